"""Bulk Hamming distances over packed digests, for collision studies of millions of hashes.

Digests are packed as uint64 arrays of shape (N, LANES), lane 0 first. The all-pairs counters
work tile by tile on preallocated buffers (XOR, ``np.bitwise_count``, compare, count) so each
step stays in cache, and split the tiles over threads: numpy releases the GIL inside these
ufuncs, so two threads use two cores. A "comparison" is one pair of 64-bit lanes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

from inference.digests import DIGEST_BYTES, LANE_BITS, LANES, Tolerance

PackedDigests = npt.NDArray[np.uint64]
TILE_ELEMENTS = 1 << 16
"""Pairs per tile: 64 Ki pairs keep the XOR, count and mask buffers (640 KiB) in L2."""


def pack_digests(digests: Sequence[bytes]) -> PackedDigests:
    """(N, 4) uint64 lanes of 32-byte digests, lane 0 (the most significant bits) first."""
    for digest in digests:
        if len(digest) != DIGEST_BYTES:
            raise ValueError(f"a digest has {DIGEST_BYTES} bytes, got {len(digest)}")
    raw = np.frombuffer(b"".join(digests), dtype=">u8").reshape(len(digests), LANES)
    return raw.astype(np.uint64)


def lane_distance_block(a: PackedDigests, b: PackedDigests) -> npt.NDArray[np.uint8]:
    """(N, M, 4) per-lane distances between every digest of ``a`` and every one of ``b``."""
    distances: npt.NDArray[np.uint8] = np.bitwise_count(a[:, None, :] ^ b[None, :, :])
    return distances


def default_threads() -> int:
    """One thread per available core."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _as_lanes(packed: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    array = np.asarray(packed)
    if array.dtype != np.uint64:
        raise TypeError(f"packed digests must be uint64, got {array.dtype}")
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or not 1 <= array.shape[1] <= LANES:
        raise ValueError(f"packed digests must have shape (N,) or (N, 1..4), got {array.shape}")
    return array


def _active_lanes(
    a: npt.NDArray[np.uint64], b: npt.NDArray[np.uint64], tolerance: Tolerance
) -> list[tuple[int, int]]:
    """Lanes that can fail the test: used by some digest and with a threshold below 64."""
    lanes = []
    for lane in range(a.shape[1]):
        threshold = tolerance.lanes[lane]
        unused = not a[:, lane].any() and not b[:, lane].any()
        if threshold < LANE_BITS and not unused:
            lanes.append((lane, threshold))
    return lanes


class _TileCounter:
    """Counts agreeing pairs of one tile at a time into buffers owned by one thread."""

    def __init__(self, lanes: list[tuple[int, int]], tile_elements: int) -> None:
        self.lanes = lanes
        self.xor = np.empty(tile_elements, dtype=np.uint64)
        self.count = np.empty(tile_elements, dtype=np.uint8)
        self.ok = np.empty(tile_elements, dtype=bool)
        self.lane_ok = np.empty(tile_elements, dtype=bool)

    def agreeing(
        self,
        a: npt.NDArray[np.uint64],
        b: npt.NDArray[np.uint64],
        mask: npt.NDArray[np.bool_] | None = None,
    ) -> int:
        rows, cols = a.shape[0], b.shape[0]
        size = rows * cols
        ok = self.ok[:size].reshape(rows, cols)
        if not self.lanes:
            ok.fill(True)
        for index, (lane, threshold) in enumerate(self.lanes):
            target = ok if index == 0 else self.lane_ok[:size].reshape(rows, cols)
            if threshold == 0:
                np.equal(a[:, lane, None], b[None, :, lane], out=target)
            else:
                xor = self.xor[:size].reshape(rows, cols)
                count = self.count[:size].reshape(rows, cols)
                np.bitwise_xor(a[:, lane, None], b[None, :, lane], out=xor)
                np.bitwise_count(xor, out=count)
                np.less_equal(count, threshold, out=target)
            if index:
                np.logical_and(ok, target, out=ok)
        if mask is not None:
            np.logical_and(ok, mask, out=ok)
        return int(np.count_nonzero(ok))


def _tiles(rows: int, cols: int, tile_elements: int) -> tuple[int, int]:
    col_tile = min(cols, tile_elements) if cols else 1
    row_tile = max(1, tile_elements // max(col_tile, 1))
    return row_tile, col_tile


def count_agreeing(
    a: npt.NDArray[np.uint64],
    b: npt.NDArray[np.uint64],
    tolerance: Tolerance,
    *,
    threads: int | None = None,
    tile_elements: int = TILE_ELEMENTS,
) -> int:
    """Number of pairs (i in a, j in b) whose digests agree under ``tolerance``."""
    left, right = _as_lanes(a), _as_lanes(b)
    if left.shape[1] != right.shape[1]:
        raise ValueError(f"lane counts differ: {left.shape[1]} and {right.shape[1]}")
    lanes = _active_lanes(left, right, tolerance)
    row_tile, col_tile = _tiles(len(left), len(right), tile_elements)
    row_starts = list(range(0, len(left), row_tile))

    def run(stripe: int, stride: int) -> int:
        counter = _TileCounter(lanes, row_tile * col_tile)
        total = 0
        for r0 in row_starts[stripe::stride]:
            block = left[r0 : r0 + row_tile]
            for c0 in range(0, len(right), col_tile):
                total += counter.agreeing(block, right[c0 : c0 + col_tile])
        return total

    return _parallel(run, threads, len(row_starts))


def count_agreeing_within(
    a: npt.NDArray[np.uint64],
    tolerance: Tolerance,
    *,
    threads: int | None = None,
    tile_elements: int = TILE_ELEMENTS,
) -> int:
    """Number of unordered pairs i < j of ``a`` whose digests agree under ``tolerance``."""
    packed = _as_lanes(a)
    lanes = _active_lanes(packed, packed, tolerance)
    count = len(packed)
    row_tile, col_tile = _tiles(count, count, tile_elements)
    row_starts = list(range(0, count, row_tile))

    def run(stripe: int, stride: int) -> int:
        counter = _TileCounter(lanes, row_tile * col_tile)
        total = 0
        for r0 in row_starts[stripe::stride]:
            block = packed[r0 : r0 + row_tile]
            rows = np.arange(r0, r0 + len(block))[:, None]
            # Columns start at r0 + 1: the pairs j <= i of this row block are masked off below.
            for c0 in range(r0 + 1, count, col_tile):
                columns = packed[c0 : c0 + col_tile]
                mask = None
                if c0 < r0 + len(block):
                    mask = np.arange(c0, c0 + len(columns))[None, :] > rows
                total += counter.agreeing(block, columns, mask)
        return total

    return _parallel(run, threads, len(row_starts))


def distance_histogram(
    a: npt.NDArray[np.uint64],
    b: npt.NDArray[np.uint64] | None = None,
    *,
    lane: int = 0,
    threads: int | None = None,
    tile_elements: int = TILE_ELEMENTS,
) -> npt.NDArray[np.int64]:
    """Counts of each Hamming distance 0..64 in one lane: all pairs of a x b, or i < j of a."""
    left = _as_lanes(a)[:, lane]
    right = left if b is None else _as_lanes(b)[:, lane]
    within = b is None
    row_tile, col_tile = _tiles(len(left), len(right), tile_elements)
    row_starts = list(range(0, len(left), row_tile))

    def run(stripe: int, stride: int) -> npt.NDArray[np.int64]:
        histogram = np.zeros(LANE_BITS + 1, dtype=np.int64)
        for r0 in row_starts[stripe::stride]:
            block = left[r0 : r0 + row_tile]
            first = r0 + 1 if within else 0
            for c0 in range(first, len(right), col_tile):
                columns = right[c0 : c0 + col_tile]
                distances = np.bitwise_count(block[:, None] ^ columns[None, :])
                if within and c0 < r0 + len(block):
                    keep = (
                        np.arange(c0, c0 + len(columns))[None, :]
                        > np.arange(r0, r0 + len(block))[:, None]
                    )
                    distances = distances[keep]
                histogram += np.bincount(distances.ravel(), minlength=LANE_BITS + 1)
        return histogram

    workers = max(1, min(threads or default_threads(), len(row_starts)))
    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(run, range(workers), [workers] * workers))
    return np.sum(parts, axis=0, dtype=np.int64) if parts else np.zeros(65, dtype=np.int64)


def _parallel(job: Callable[[int, int], int], threads: int | None, items: int) -> int:
    """Run job(stripe, stride) for every stripe on a thread pool and add the counts."""
    workers = max(1, min(threads or default_threads(), items))
    if workers == 1:
        return job(0, 1)
    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(job, range(workers), [workers] * workers))
