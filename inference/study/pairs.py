"""All-pairs Hamming comparison of a pool of digests, aggregated into per-category histograms.

Every pair of the pool (all variants' digests of one model under one scheme) is compared lane by
lane on the packed-uint64 Hamming engine; each pair's lane distances are reduced to two
coordinates (x, y) that the scheme's tolerance family thresholds, and counted in a 65 x 65
histogram per category (variant of each side, whether the pair is the same cell, the same class
with another seed, or another class, and which half of the seeds its two sides come from).
Histograms make every per-threshold rate exact without keeping the pairs.

The seed halves keep calibration and evaluation apart: tolerances are chosen on pairs of odd
seeds and judged on pairs of even seeds, which the choice never saw.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from inference.bulk.hamming import lane_distance_block
from inference.digests import LANE_BITS

BINS = LANE_BITS + 1
SAME_CELL, SAME_CLASS, OTHER_CLASS = 0, 1, 2
RELATIONS = ("same cell", "same class, other seed", "other class")
CALIBRATION, HELD_OUT, MIXED = 0, 1, 2
SPLITS = ("calibration (odd seeds)", "held out (even seeds)", "one side of each")


def seed_half(seeds: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """CALIBRATION for odd seeds, HELD_OUT for even ones (seeds are 1, 2, 3, ...)."""
    return np.where(np.asarray(seeds) % 2 == 1, CALIBRATION, HELD_OUT).astype(np.int64)


def reduce_lanes(
    distances: npt.NDArray[np.uint8], mode: str
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """The two thresholded coordinates of a scheme's tolerance family.

    mode "lanes01": x = lane 0, y = lane 1 (one- and two-lane schemes, tolerance (tx, ty, 0, 0));
    mode "max": x = the largest lane distance, y = 0 (equal thresholds on all four lanes).
    """
    if mode == "lanes01":
        return distances[..., 0], distances[..., 1]
    if mode == "max":
        return distances.max(axis=-1), np.zeros(distances.shape[:-1], dtype=np.uint8)
    raise ValueError(f"unknown reduction {mode!r}")


@dataclass
class PairHistograms:
    """hist[vi, vj, relation, split, x, y] = number of unordered pairs (vi <= vj) in that bin."""

    variants: list[str]
    hist: npt.NDArray[np.int64]
    comparisons: int
    seconds: float

    @property
    def pairs_per_second(self) -> float:
        return self.comparisons / self.seconds if self.seconds > 0 else float("inf")

    def select(
        self, pairs: list[tuple[str, str]], relation: int, split: int | None = None
    ) -> npt.NDArray[np.int64]:
        """The summed (x, y) histogram of the given variant pairs (order-insensitive), of one
        seed split or (None) of all pairs."""
        total = np.zeros((BINS, BINS), dtype=np.int64)
        index = {name: i for i, name in enumerate(self.variants)}
        for first, second in pairs:
            i, j = sorted((index[first], index[second]))
            cell = self.hist[i, j, relation]
            total += cell.sum(axis=0) if split is None else cell[split]
        return total


def all_pairs_histograms(
    variants: list[str],
    packed: list[npt.NDArray[np.uint64]],
    classes: list[npt.NDArray[np.int64]],
    seeds: list[npt.NDArray[np.int64]],
    mode: str,
    *,
    block: int = 1024,
) -> PairHistograms:
    """Compare every unordered pair of the pooled digests (including pairs within one variant)."""
    pool = np.concatenate(packed)
    owner = np.concatenate([np.full(len(p), i, dtype=np.int64) for i, p in enumerate(packed)])
    pool_classes = np.concatenate(classes).astype(np.int64)
    pool_seeds = np.concatenate(seeds).astype(np.int64)
    pool_halves = seed_half(pool_seeds)
    count = len(variants)
    splits = len(SPLITS)
    hist = np.zeros(count * count * 3 * splits * BINS * BINS, dtype=np.int64)
    comparisons = 0
    started = time.perf_counter()
    size = len(pool)
    for i0 in range(0, size, block):
        i1 = min(i0 + block, size)
        for j0 in range(i0, size, block):
            j1 = min(j0 + block, size)
            distances = lane_distance_block(pool[i0:i1], pool[j0:j1])
            x, y = reduce_lanes(distances, mode)
            same_class = pool_classes[i0:i1, None] == pool_classes[None, j0:j1]
            same_seed = pool_seeds[i0:i1, None] == pool_seeds[None, j0:j1]
            relation = np.where(same_class, np.where(same_seed, SAME_CELL, SAME_CLASS), OTHER_CLASS)
            hi, hj = pool_halves[i0:i1, None], pool_halves[None, j0:j1]
            split = np.where(hi == hj, hi, MIXED)
            vi, vj = owner[i0:i1, None], owner[None, j0:j1]
            low, high = np.minimum(vi, vj), np.maximum(vi, vj)
            code = (((low * count + high) * 3 + relation) * splits + split) * (BINS * BINS)
            code = code + x.astype(np.int64) * BINS + y
            if i0 == j0:  # diagonal block: keep only pairs above the diagonal
                keep = np.triu(np.ones((i1 - i0, j1 - j0), dtype=bool), k=1)
                code = code[keep]
            comparisons += code.size
            hist += np.bincount(code.ravel(), minlength=hist.size)
    seconds = time.perf_counter() - started
    return PairHistograms(
        variants, hist.reshape(count, count, 3, splits, BINS, BINS), comparisons, seconds
    )
