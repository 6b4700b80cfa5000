"""The bulk Hamming engine against a brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest

from inference.bulk.hamming import (
    count_agreeing,
    count_agreeing_within,
    distance_histogram,
    lane_distance_block,
    pack_digests,
)
from inference.digests import Tolerance, digest_from_lanes, digests_agree


def _near_duplicates(rng: np.random.Generator, count: int, lanes: int) -> np.ndarray:
    """Random digests where about half are a few bit flips away from an earlier one."""
    packed = np.zeros((count, 4), dtype=np.uint64)
    packed[:, :lanes] = rng.integers(0, 2**63, (count, lanes), dtype=np.uint64)
    for index in range(1, count, 2):
        flips = rng.integers(0, 64, (lanes, int(rng.integers(0, 12))))
        packed[index, :lanes] = packed[index - 1, :lanes]
        for lane in range(lanes):
            for bit in flips[lane]:
                packed[index, lane] ^= np.uint64(1) << np.uint64(bit)
    return packed


def _brute_force(a: np.ndarray, b: np.ndarray, tolerance: Tolerance) -> np.ndarray:
    return (lane_distance_block(a, b) <= np.array(tolerance.lanes, dtype=np.uint8)).all(axis=2)


def test_pack_digests_matches_the_digest_lanes() -> None:
    digests = [digest_from_lanes([1, 2, 3, 2**64 - 1]), digest_from_lanes([5])]
    packed = pack_digests(digests)
    assert packed.dtype == np.uint64
    assert packed.tolist() == [[1, 2, 3, 2**64 - 1], [5, 0, 0, 0]]
    with pytest.raises(ValueError, match="32 bytes"):
        pack_digests([b"\x00"])


@pytest.mark.parametrize(
    "tolerance",
    [Tolerance.of(10), Tolerance.of(6, 8), Tolerance.of(0, 64), Tolerance.of(4, 4, 4, 4)],
)
@pytest.mark.parametrize("threads", [1, 2])
def test_counts_equal_brute_force(tolerance: Tolerance, threads: int) -> None:
    rng = np.random.default_rng(3)
    a, b = _near_duplicates(rng, 301, 4), _near_duplicates(rng, 257, 4)
    b[:40] = a[:40]
    reference = _brute_force(a, b, tolerance)
    assert count_agreeing(a, b, tolerance, threads=threads) == reference.sum()
    within = _brute_force(a, a, tolerance)[np.triu_indices(len(a), 1)].sum()
    assert count_agreeing_within(a, tolerance, threads=threads) == within
    assert within > 0


def test_counts_follow_the_contract_rule() -> None:
    rng = np.random.default_rng(4)
    a = _near_duplicates(rng, 40, 2)
    digests = [b"".join(int(v).to_bytes(8, "big") for v in row) for row in a]
    tolerance = Tolerance.of(5, 3)
    expected = sum(
        digests_agree(digests[i], digests[j], tolerance)
        for i in range(len(digests))
        for j in range(i + 1, len(digests))
    )
    assert count_agreeing_within(pack_digests(digests), tolerance) == expected


def test_one_lane_arrays_and_histograms() -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(0, 2**63, 500, dtype=np.uint64)
    b = rng.integers(0, 2**63, 300, dtype=np.uint64)
    distances = np.bitwise_count(a[:, None] ^ b[None, :])
    assert count_agreeing(a, b, Tolerance.of(28)) == (distances <= 28).sum()
    histogram = distance_histogram(a, b)
    assert histogram.tolist() == np.bincount(distances.ravel(), minlength=65).tolist()
    self_distances = np.bitwise_count(a[:, None] ^ a[None, :])[np.triu_indices(500, 1)]
    expected = np.bincount(self_distances, minlength=65).tolist()
    assert distance_histogram(a).tolist() == expected
    with pytest.raises(TypeError, match="uint64"):
        count_agreeing(a.astype(np.int64), b, Tolerance.of(1))  # type: ignore[arg-type]
