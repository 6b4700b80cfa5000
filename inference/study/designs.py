"""The noise study's candidate digest designs and the compact file of per-sample digests.

``digest_setting`` digests every stored condition of one setting under every design and writes,
with the (class, seed) of each row and the share of 8-bit values each sample changed against the
reference, one ``<setting>-digests.npz`` (about 32 bytes per sample and design);
``load_digests`` reads it back aligned on the reference's cells. Everything the analysis
(``inference.study.accuracy``) reports is computed from that file alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from inference.digests import dhash64, fine64, phash64
from inference.graded import graded_values, sample_bits, split_lanes
from inference.study.candidates import block_bits, proj_bits
from inference.study.noise import (
    REFERENCE,
    load_condition,
)

LaneFunction = Callable[[Image.Image], list[int]]


@dataclass(frozen=True)
class Design:
    """A candidate digest: how lanes 1-3 are made; the graded lanes share one threshold."""

    name: str
    family: str
    description: str
    lanes: Callable[[Image.Image], list[int]]
    graded: tuple[int, ...]


def _graded(bits: Callable[[npt.NDArray[np.int64]], int]) -> LaneFunction:
    return lambda image: split_lanes(bits(graded_values(image)))


def candidate_designs() -> list[Design]:
    """Every design the study compares (the exactness lane and dHash as baselines)."""
    designs = [
        Design(
            "fine64", "exact", "sha256 bit per 8x8 region (exactness)", lambda i: [fine64(i)], (1,)
        ),
        Design("dhash64", "gradient", "64-bit dHash", lambda i: [dhash64(i)], (1,)),
    ]
    for width in (64, 128):
        designs.append(
            Design(
                f"proj-w{width}",
                "proj",
                f"192 quantised +-1 projections of 4096 sampled channel values, width {width}",
                _graded(lambda v, w=width: proj_bits(v, w)),  # type: ignore[misc]
                (1, 2, 3),
            )
        )
    for group in (2, 4, 8):
        designs.append(
            Design(
                f"sample-k{group}",
                "sample",
                f"192 sha256 bits of groups of {group} sampled channel values",
                _graded(lambda v, k=group: sample_bits(v, k)),  # type: ignore[misc]
                (1, 2, 3),
            )
        )
    for width in (8, 16):
        designs.append(
            Design(
                f"block-w{width}",
                "block",
                f"64 block means at 3 offsets, width {width}/16 grey levels",
                lambda i, w=width: split_lanes(block_bits(i, w)),  # type: ignore[misc]
                (1, 2, 3),
            )
        )
    return designs


def sample_image(pixels: npt.NDArray[np.uint8]) -> Image.Image:
    """The image a verifier digests: Digits-Gen's 64x64 view of a 16x16 sample, else as stored."""
    if pixels.ndim == 2 and pixels.shape == (16, 16):
        from inference.digits.sampling import to_image

        return to_image(pixels)
    return Image.fromarray(np.ascontiguousarray(pixels))


def digest_setting(folder: Path, out: Path, designs: Sequence[Design] | None = None) -> Path:
    """Digest every stored condition of one setting under every design into ``out`` (npz)."""
    chosen = list(designs or candidate_designs())
    arrays: dict[str, npt.NDArray[Any]] = {}
    names = [p.stem for p in sorted(folder.glob("*.npz")) if not p.name.startswith(".")]
    reference = load_condition(folder, REFERENCE.name)
    where = {
        cell: i
        for i, cell in enumerate(
            zip(reference.classes.tolist(), reference.seeds.tolist(), strict=True)
        )
    }
    for name in names:
        samples = load_condition(folder, name)
        arrays[f"cells/{name}"] = np.stack([samples.classes, samples.seeds], axis=1)
        rows = [
            where.get(cell, -1)
            for cell in zip(samples.classes.tolist(), samples.seeds.tolist(), strict=True)
        ]
        # The share of 8-bit values that differ from the noise-free reference (NaN: no cell).
        changed = np.full(len(rows), np.nan, dtype=np.float32)
        for i, row in enumerate(rows):
            if row >= 0:
                changed[i] = float(np.mean(samples.images[i] != reference.images[row]))
        arrays[f"changed/{name}"] = changed
        images = [sample_image(p) for p in samples.images]
        lane0 = [phash64(image) for image in images]
        for design in chosen:
            lanes = [
                [first, *design.lanes(image), 0, 0, 0][:4]
                for first, image in zip(lane0, images, strict=True)
            ]
            arrays[f"{design.name}/{name}"] = np.asarray(lanes, dtype=np.uint64)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, allow_pickle=False, **arrays)
    return out


@dataclass(frozen=True)
class StoredDigests:
    """One setting's per-sample digests: design -> condition -> (N, 4) uint64 on the reference's
    cells, and which rows each condition holds (a condition may cover fewer cells, e.g. a slow
    impostor run on a subset)."""

    classes: npt.NDArray[np.int64]
    seeds: npt.NDArray[np.int64]
    packed: dict[str, dict[str, npt.NDArray[np.uint64]]]
    present: dict[str, npt.NDArray[np.bool_]]
    changed: dict[str, npt.NDArray[np.float32]]
    """condition -> the share of 8-bit values each of its samples changed against the
    reference (rows as stored, not aligned): what any digest can see at best."""

    @property
    def designs(self) -> list[str]:
        return list(self.packed)


def load_digests(path: Path) -> StoredDigests:
    """Read a digests file, every condition on the rows of the reference's cells."""
    with np.load(path) as data:
        files = {key: data[key] for key in data.files}
    cells = {k.split("/", 1)[1]: v for k, v in files.items() if k.startswith("cells/")}
    changed = {k.split("/", 1)[1]: v for k, v in files.items() if k.startswith("changed/")}
    keys = {name: c[:, 0] * (1 << 40) + c[:, 1] for name, c in cells.items()}
    wanted = np.asarray(sorted(set(keys[REFERENCE.name].tolist())), dtype=np.int64)
    rows: dict[str, npt.NDArray[np.int64]] = {}
    present: dict[str, npt.NDArray[np.bool_]] = {}
    for condition, key in keys.items():
        position = {k: i for i, k in enumerate(key.tolist())}
        rows[condition] = np.asarray([position.get(k, -1) for k in wanted.tolist()])
        present[condition] = rows[condition] >= 0
    packed: dict[str, dict[str, npt.NDArray[np.uint64]]] = {}
    for key, value in files.items():
        if key.startswith(("cells/", "changed/")):
            continue
        design, condition = key.split("/", 1)
        aligned = np.zeros((wanted.size, 4), dtype=np.uint64)
        aligned[present[condition]] = value[rows[condition][present[condition]]]
        packed.setdefault(design, {})[condition] = aligned
    return StoredDigests(wanted >> 40, wanted & ((1 << 40) - 1), packed, present, changed)
