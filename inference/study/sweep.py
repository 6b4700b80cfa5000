"""The study's sweep: every variant over the (class, seed) grid, only the cells not stored yet.

Each variant runs in a worker subprocess started with that variant's environment; the parent turns
the worker's "done N" lines into a progress bar. Re-running the same grid generates nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from inference.study.store import Cell, SampleStore
from inference.study.variants import StudyRunError, Variant, start_variant_worker

DEFAULT_CHUNK = 100


@dataclass(frozen=True)
class VariantRun:
    """What one variant needed and generated."""

    variant: str
    requested: int
    generated: int


def parse_range(text: str) -> list[int]:
    """ "0-9", "1,3,5" or "1-300" (inclusive ranges, comma-separated) to a sorted list."""
    values: set[int] = set()
    for part in (p.strip() for p in text.split(",") if p.strip()):
        low, sep, high = part.partition("-")
        try:
            start, stop = (int(low), int(high)) if sep else (int(part), int(part))
        except ValueError:
            raise ValueError(f"{part!r} is not an integer or a range like 1-300") from None
        if stop < start:
            raise ValueError(f"range {part!r} is empty")
        values.update(range(start, stop + 1))
    if not values:
        raise ValueError(f"no values in {text!r}")
    return sorted(values)


def study_cells(classes: Sequence[int], seeds: Sequence[int]) -> list[Cell]:
    """The grid, ordered so that consecutive cells (and so batches) mix classes."""
    return [(c, s) for s in seeds for c in classes]


def run_variant(
    store_root: Path,
    model: str,
    variant: Variant,
    cells: Sequence[Cell],
    *,
    chunk_size: int = DEFAULT_CHUNK,
    show_progress: bool = True,
) -> VariantRun:
    """Generate the missing cells of one variant in a fresh worker process."""
    store = SampleStore(store_root, model)
    have = store.stored_cells(variant.name)
    missing = [cell for cell in cells if cell not in have]
    if not missing:
        return VariantRun(variant.name, len(cells), 0)
    request = {
        "model": model,
        "variant": variant.as_dict(),
        "cells": missing,
        "store": str(store_root),
        "chunk_size": chunk_size,
    }
    process = start_variant_worker("inference.study.worker", request, variant)
    assert process.stdout is not None
    bar = tqdm(
        total=len(missing), desc=f"{model}/{variant.name}", unit="img", disable=not show_progress
    )
    with bar:
        for line in process.stdout:
            if line.startswith("done "):
                bar.update(int(line.split()[1]))
    stderr = process.stderr.read() if process.stderr else ""
    if process.wait() != 0:
        raise StudyRunError(
            f"worker for {model}/{variant.name} exited with {process.returncode}:\n"
            + stderr[-3000:]
        )
    return VariantRun(variant.name, len(cells), len(missing))


def run_study(
    store_root: Path,
    model: str,
    variants: Sequence[Variant],
    classes: Sequence[int],
    seeds: Sequence[int],
    *,
    jobs: int = 1,
    chunk_size: int = DEFAULT_CHUNK,
    show_progress: bool = True,
) -> list[VariantRun]:
    """Every variant over the classes x seeds grid, `jobs` worker processes at a time."""
    cells = study_cells(classes, seeds)

    def one(variant: Variant) -> VariantRun:
        return run_variant(
            store_root, model, variant, cells, chunk_size=chunk_size, show_progress=show_progress
        )

    if jobs <= 1:
        return [one(v) for v in variants]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, variants))
