"""Compact, resumable storage of study samples: one folder per (model, variant), npz chunks.

Each chunk holds the 8-bit images of some (class, seed) cells plus a JSON provenance record
(variant, runtime fingerprint, model hash, wall time). Images rather than digests are kept so that
every digest scheme can be computed later without generating again; a crashed or interrupted run
loses at most the chunk in progress, and a re-run generates only the cells no chunk holds.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

Cell = tuple[int, int]
"""(class index, seed)."""


@dataclass(frozen=True)
class VariantSamples:
    """All stored samples of one variant, sorted by (class, seed)."""

    classes: npt.NDArray[np.int16]
    seeds: npt.NDArray[np.int64]
    images: npt.NDArray[np.uint8]
    provenance: list[dict[str, object]]

    def __len__(self) -> int:
        return int(self.classes.shape[0])


class SampleStore:
    """The samples of one model under `root/<model>/<variant>/chunk-*.npz`."""

    def __init__(self, root: Path, model: str) -> None:
        self.root = root / model
        self.model = model

    def variant_dir(self, variant: str) -> Path:
        return self.root / variant

    def chunk_paths(self, variant: str) -> list[Path]:
        folder = self.variant_dir(variant)
        return sorted(folder.glob("chunk-*.npz")) if folder.is_dir() else []

    def stored_cells(self, variant: str) -> set[Cell]:
        """The cells this variant already has, read from the chunks' index arrays only."""
        cells: set[Cell] = set()
        for path in self.chunk_paths(variant):
            with np.load(path) as chunk:
                cells.update(zip(chunk["classes"].tolist(), chunk["seeds"].tolist(), strict=True))
        return cells

    def write_chunk(
        self,
        variant: str,
        classes: list[int],
        seeds: list[int],
        images: npt.NDArray[np.uint8],
        provenance: dict[str, object],
    ) -> Path:
        """Atomically add one chunk (write to a temporary name, then rename)."""
        folder = self.variant_dir(variant)
        folder.mkdir(parents=True, exist_ok=True)
        index = len(self.chunk_paths(variant))
        while (folder / f"chunk-{index:05d}.npz").exists():
            index += 1
        path = folder / f"chunk-{index:05d}.npz"
        temporary = folder / f".chunk-{index:05d}.{os.getpid()}.tmp.npz"
        np.savez_compressed(
            temporary,
            classes=np.asarray(classes, dtype=np.int16),
            seeds=np.asarray(seeds, dtype=np.int64),
            images=np.asarray(images, dtype=np.uint8),
            provenance=np.frombuffer(json.dumps(provenance, sort_keys=True).encode(), np.uint8),
        )
        temporary.replace(path)
        return path

    def load(self, variant: str) -> VariantSamples:
        """Every sample of a variant; duplicates (from overlapping runs) keep the first copy."""
        classes: list[npt.NDArray[np.int16]] = []
        seeds: list[npt.NDArray[np.int64]] = []
        images: list[npt.NDArray[np.uint8]] = []
        provenance: list[dict[str, object]] = []
        for path in self.chunk_paths(variant):
            with np.load(path) as chunk:
                classes.append(chunk["classes"])
                seeds.append(chunk["seeds"])
                images.append(chunk["images"])
                provenance.append(json.loads(chunk["provenance"].tobytes().decode()))
        if not classes:
            raise FileNotFoundError(
                f"no samples stored for model {self.model!r} variant {variant!r} under {self.root}"
                " (run `genoracle study run` first)"
            )
        all_classes = np.concatenate(classes)
        all_seeds = np.concatenate(seeds)
        keys = all_classes.astype(np.int64) * (1 << 40) + all_seeds
        _, first = np.unique(keys, return_index=True)
        order = first[np.lexsort((all_seeds[first], all_classes[first]))]
        return VariantSamples(
            all_classes[order], all_seeds[order], np.concatenate(images)[order], provenance
        )
