"""The study's statistics on constructed data whose answers are known by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from inference.bulk.hamming import pack_digests
from inference.digests import Tolerance, digest_from_lanes, digests_agree
from inference.study import pairs, stats
from inference.study.analysis import categories, pair_rates


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9, 0.9989, 1.0])
def test_majority_of_three_is_3p2_minus_2p3(p: float) -> None:
    assert stats.majority_probability(p, 3) == pytest.approx(3 * p**2 - 2 * p**3, abs=1e-15)


def test_majority_of_five_matches_enumeration() -> None:
    p = 0.3
    enumerated = sum(
        np.prod([p if bit else 1 - p for bit in outcome])
        for outcome in itertools.product([0, 1], repeat=5)
        if sum(outcome) >= 3
    )
    assert stats.majority_probability(p, 5) == pytest.approx(enumerated, abs=1e-15)


def test_majority_rejects_a_probability_outside_zero_one() -> None:
    with pytest.raises(ValueError, match="outside"):
        stats.majority_probability(1.5, 3)


def test_agreement_rate_counts_pairs_within_both_thresholds() -> None:
    hist = np.zeros((65, 65), dtype=np.int64)
    hist[0, 0] = 6  # identical
    hist[3, 1] = 3  # x=3, y=1
    hist[10, 0] = 1  # far on x
    assert stats.agreement_rate(hist, 0, 0) == pytest.approx(0.6)
    assert stats.agreement_rate(hist, 3, 0) == pytest.approx(0.6)  # y=1 still fails
    assert stats.agreement_rate(hist, 3, 1) == pytest.approx(0.9)
    assert stats.agreement_rate(hist, 64, 64) == pytest.approx(1.0)
    grid = stats.agreement_grid(hist)
    assert grid[3, 1] == pytest.approx(0.9)
    assert grid[9, 64] == pytest.approx(0.9)


def test_contract_resolution_of_three_and_five_verifiers() -> None:
    # Three verifiers: two agree -> resolves; nobody agrees -> no consensus.
    two_agree = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=bool)
    none_agree = np.eye(3, dtype=bool)
    assert stats.contract_resolves(np.stack([two_agree, none_agree])).tolist() == [True, False]
    # Five verifiers need a support of 3.
    pair_only = np.eye(5, dtype=bool)
    pair_only[0, 1] = pair_only[1, 0] = True
    triple = pair_only.copy()
    triple[0, 2] = triple[2, 0] = triple[1, 2] = triple[2, 1] = True
    assert stats.contract_resolves(np.stack([pair_only, triple])).tolist() == [False, True]


def test_agree_matrix_is_the_contract_rule() -> None:
    rng = np.random.default_rng(7)
    tolerance = Tolerance.of(3, 1)
    for _ in range(200):
        a = digest_from_lanes([int(v) for v in rng.integers(0, 2**63, 2)])
        flips = [1 << int(b) for b in rng.integers(0, 64, 4)]
        lanes = list(pack_digests([a])[0])
        b = digest_from_lanes([int(lanes[0]) ^ flips[0] ^ flips[1], int(lanes[1]) ^ flips[2], 0, 0])
        distances = np.bitwise_count(pack_digests([a]) ^ pack_digests([b]))
        assert bool(stats.agree_matrix(distances, tolerance.lanes)[0]) == digests_agree(
            a, b, tolerance
        )


def test_accepted_by_majority_needs_two_of_three() -> None:
    votes = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0], [1, 1, 1]], dtype=bool)
    assert stats.accepted_by_majority(votes).tolist() == [True, False, False, True]


def test_recommendation_is_worst_honest_distance_plus_headroom() -> None:
    honest = np.zeros((65, 65), dtype=np.int64)
    honest[0, 0], honest[2, 1] = 990, 10
    impostor = np.zeros((65, 65), dtype=np.int64)
    impostor[0, 20], impostor[6, 0] = 50, 50  # caught by y, and by x beyond 4
    intra = np.zeros((65, 65), dtype=np.int64)
    intra[24, 30] = 100
    rec = stats.recommend_tolerance(honest, [impostor], intra, two_coordinates=True)
    assert (rec.tx, rec.ty) == (4, 3)
    assert rec.honest_rate == 1.0
    assert rec.min_detection == pytest.approx(1.0)
    assert rec.collision_rate == 0.0
    one_lane = np.zeros((65, 65), dtype=np.int64)
    one_lane[0, 0], one_lane[2, 0] = 999, 1
    same_hash = np.zeros((65, 65), dtype=np.int64)
    same_hash[0, 0], same_hash[6, 0] = 50, 50  # half keep the hash: invisible to one lane
    single = stats.recommend_tolerance(one_lane, [same_hash], intra, two_coordinates=False)
    assert (single.tx, single.ty) == (4, 0)
    assert single.min_detection == pytest.approx(0.5)


def test_recommendation_widens_until_the_honest_floor_is_met() -> None:
    honest = np.zeros((65, 65), dtype=np.int64)
    honest[0, 0] = 10
    rec = stats.recommend_tolerance(
        honest, [], honest, two_coordinates=False, margin=0, honest_floor=1.0
    )
    assert (rec.tx, rec.ty) == (0, 0)


def test_all_pairs_histograms_count_every_pair_once_by_category() -> None:
    # Two variants x (2 classes x 2 seeds); variant "b" differs from "a" in one bit of lane 0.
    cells = [(0, 1), (0, 2), (1, 1), (1, 2)]
    base = {cell: 0x0F << (8 * i) for i, cell in enumerate(cells)}
    a = pack_digests([digest_from_lanes([base[c], 0]) for c in cells])
    b = pack_digests([digest_from_lanes([base[c] ^ 1, 0]) for c in cells])
    classes = np.array([c for c, _ in cells])
    seeds = np.array([s for _, s in cells])
    result = pairs.all_pairs_histograms(
        ["a", "b"], [a, b], [classes, classes], [seeds, seeds], "lanes01", block=3
    )
    assert result.comparisons == 8 * 7 // 2
    same_cell = result.select([("a", "b")], pairs.SAME_CELL)
    assert same_cell.sum() == 4 and same_cell[1, 0] == 4
    within_a = result.select([("a", "a")], pairs.SAME_CLASS)
    assert within_a.sum() == 2 and within_a[8, 0] == 2  # two disjoint 4-bit groups: 8 bits
    across = result.select([("a", "b")], pairs.SAME_CLASS)
    assert across.sum() == 4 and set(np.nonzero(across)[0]) == {7, 9}
    other = result.select([("a", "a"), ("b", "b"), ("a", "b")], pairs.OTHER_CLASS)
    assert other.sum() == 4 + 4 + 8


def test_pairs_are_split_by_seed_half() -> None:
    # Seeds 1 and 3 calibrate, 2 and 4 are held out; a pair across the halves is neither.
    assert pairs.seed_half(np.array([1, 2, 3, 4])).tolist() == [
        pairs.CALIBRATION,
        pairs.HELD_OUT,
        pairs.CALIBRATION,
        pairs.HELD_OUT,
    ]
    seeds = np.array([1, 2, 3, 4])
    classes = np.zeros(4, dtype=np.int64)
    a = pack_digests([digest_from_lanes([0xFF << (8 * i), 0]) for i in range(4)])
    result = pairs.all_pairs_histograms(["a"], [a], [classes], [seeds], "lanes01", block=2)
    within = {
        split: result.select([("a", "a")], pairs.SAME_CLASS, split).sum()
        for split in (pairs.CALIBRATION, pairs.HELD_OUT, pairs.MIXED)
    }
    assert within == {pairs.CALIBRATION: 1, pairs.HELD_OUT: 1, pairs.MIXED: 4}
    assert result.select([("a", "a")], pairs.SAME_CLASS).sum() == 6  # all splits


def test_tolerance_is_chosen_on_odd_seeds_and_judged_on_even_ones() -> None:
    # threads-2 differs from the reference by 1 bit on odd seeds but by 4 bits on seed 4: the
    # calibration sees at most 1 (tolerance 1 + 2 = 3), the held-out half then misses one pair.
    seeds = np.array([1, 2, 3, 4])
    classes = np.array([0, 1, 2, 3])
    base = [0x0F0F << (16 * i) for i in range(4)]
    flips = {1: 0b1, 2: 0, 3: 0b1, 4: 0b1111 << 32}
    reference = pack_digests([digest_from_lanes([b, 0]) for b in base])
    threads = pack_digests(
        [digest_from_lanes([b ^ flips[int(s)], 0]) for b, s in zip(base, seeds, strict=True)]
    )
    impostor = pack_digests([digest_from_lanes([~b & (2**64 - 1), 0]) for b in base])
    histograms = pairs.all_pairs_histograms(
        ["reference", "threads-2", "steps-10"],
        [reference, threads, impostor],
        [classes] * 3,
        [seeds] * 3,
        "lanes01",
    )
    honest, impostors = ["reference", "threads-2"], ["steps-10"]
    calibration = categories(histograms, honest, impostors, pairs.CALIBRATION)
    held = categories(histograms, honest, impostors, pairs.HELD_OUT)
    rec = stats.recommend_tolerance(
        calibration.honest,
        list(calibration.impostors.values()),
        calibration.intra,
        two_coordinates=False,
    )
    assert (rec.tx, rec.ty) == (3, 0)
    assert pair_rates(calibration, rec.tx, rec.ty)["honest"] == 1.0
    judged = pair_rates(held, rec.tx, rec.ty)
    assert judged["honest"] == 0.5
    assert judged["detect[steps-10]"] == 1.0
    assert judged["intra_class"] != judged["intra_class"]  # NaN: one cell per class, no pairs
