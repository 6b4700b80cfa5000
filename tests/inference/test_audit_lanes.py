"""The audit study under the chain's comparison: lane distances recorded per step (and per text
position) match what the chain compares (the sketches of the challenged leaf); the chain rule's
calibration (largest honest lane distance + 2), acceptance, majority of 3 and detection on
synthetic records; one tiny diffusion trajectory and one tiny text generation recorded for
real."""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from hashlib import sha256

import numpy as np
import pytest

from inference.audit.sketch import DESIGNS
from inference.digests import lane_distances
from inference.study.audit_chain import (
    CHALLENGE_DRAWS,
    analyse_diffusion_chain,
    analyse_text_chain,
    chain_challenge,
    compared_lanes,
    lane_tolerance,
    majority_outcome,
)
from inference.study.audit_steps import TrajectoryRecord
from inference.study.audit_text import TextRecord
from oracle.chain.audited import challenge


def _seed(i: int) -> bytes:
    return i.to_bytes(32, "big")


@pytest.mark.parametrize("leaves", [1, 2, 3, 4, 5, 20, 50])
def test_the_study_draws_the_chains_challenge(leaves: int) -> None:
    for i in range(20):
        assert chain_challenge(_seed(i), leaves) == [challenge(_seed(i), leaves)] * 4


@pytest.mark.parametrize("leaves", [2, 7, 20])
def test_compared_lanes_are_the_compared_digests_lane_distances(leaves: int) -> None:
    """Per-leaf lane distances picked at the challenged leaf equal the lane distances of the two
    compared digests the contract compares (the two sketches of that leaf)."""
    rng = random.Random(leaves)
    ours = [rng.randbytes(32) for _ in range(leaves)]
    theirs = [bytes(b ^ (rng.random() < 0.1) << rng.randrange(8) for b in s) for s in ours]
    lanes = [list(lane_distances(a, b)) for a, b in zip(ours, theirs, strict=True)]
    for i in range(10):
        index = challenge(_seed(i), leaves)
        expected = lane_distances(ours[index], theirs[index])
        indices = np.asarray(chain_challenge(_seed(i), leaves))
        assert compared_lanes(lanes, indices).tolist() == list(expected)
    batch = np.asarray([chain_challenge(_seed(i), leaves) for i in range(10)])
    assert compared_lanes(lanes, batch).shape == (10, 4)


def test_lane_tolerance_is_the_largest_honest_lane_plus_two_at_most_64() -> None:
    assert lane_tolerance([[[1, 2, 3, 4]], [[0, 9, 0, 0], [5, 5, 5, 5]]]) == (9, 11)
    assert lane_tolerance([[[63, 0, 0, 0]]]) == (63, 64)
    assert lane_tolerance([]) == (0, 2)


def test_majority_of_three_follows_the_tolerant_majority() -> None:
    """With 3 members the executor is in the winner's agreeing set iff it agrees with an auditor;
    it is outvoted iff it agrees with neither and the auditors agree."""
    cases = [(e1, e2, a) for e1 in (0, 1) for e2 in (0, 1) for a in (0, 1)]
    first, second, auditors = (np.asarray([c[i] for c in cases], dtype=bool) for i in range(3))
    outcome = majority_outcome((first, second, auditors))
    assert outcome["pair"] == 0.5
    assert outcome["resolved"] == 6 / 8
    assert outcome["outvoted"] == 1 / 8  # (0, 0, 1) only


def _record(
    seed: int, condition: str, lanes: list[list[int]], faked: list[int] | None = None
) -> TrajectoryRecord:
    """A trajectory record whose three pairs all have the given lanes."""
    return TrajectoryRecord(
        seed,
        condition,
        {"d": [sum(step) for step in lanes]},
        faked or [],
        [0, 0, 0, 0],
        True,
        0.0,
        {"d": lanes},
        {"d": lanes},
        {"d": [[0, 0, 0, 0] for _ in lanes]},
    )


def test_chain_rule_calibrates_on_odd_seeds_and_judges_on_even_ones() -> None:
    steps = 10
    quiet = [[3, 4, 5, 6]] * steps
    records = [
        _record(1, "noise-1e-05", [[3, 4, 5, 6]] * (steps - 1) + [[12, 0, 0, 0]]),
        _record(3, "noise-1e-05", quiet),
        *(_record(s, f"noise-{e}", quiet) for s in (2, 4) for e in ("1e-05", "1e-04", "1e-03")),
        # an impostor off at every step, and a lazy executor off at one step in lane 2 only
        *(_record(s, "bf16", [[30, 30, 30, 30]] * steps) for s in (2, 4)),
        *(_record(s, "faked-10pc", [*quiet[:4], [0, 0, 40, 0], *quiet[5:]], [4]) for s in (2, 4)),
    ]
    chain = analyse_diffusion_chain(records, designs=("d",))
    entry = chain["candidates"]["d"]
    assert (entry["honest_max_lane"], entry["tolerance"]) == (12, 14) and chain["tolerance"] == 14
    assert entry["honest_accept"]["noise-1e-05"] == 1.0
    assert entry["honest_resolved"]["noise-1e-05"] == 1.0
    assert entry["detection"]["bf16"] == 1.0 and entry["pair_detection"]["bf16"] == 1.0
    # Step 4 (off in lane 2 of its sketch) is caught only when it is the challenged leaf.
    hits = [
        challenge(sha256(f"challenge/{seed}/{draw}".encode()).digest(), steps) == 4
        for seed in (2, 4)
        for draw in range(CHALLENGE_DRAWS)
    ]
    assert 0 < entry["detection"]["faked-10pc"] < 0.5
    assert entry["detection"]["faked-10pc"] == pytest.approx(np.mean(hits))
    assert chain["honest_max_lane_by_step"] == [6] * (steps - 1) + [12]


def _text(prompt: int, condition: str, lanes: list[list[int]], gap: float) -> TextRecord:
    return TextRecord(
        prompt,
        condition,
        len(lanes),
        gap,
        {"s": [sum(p) for p in lanes]},
        0.0,
        {"s": lanes},
        {"s": lanes},
        {"s": [[0, 0, 0, 0] for _ in lanes]},
        gap,
    )


def test_text_chain_rule_counts_the_margin_as_the_reserved_digest() -> None:
    quiet = [[1, 2, 1, 0]] * 6
    records = [
        _text(1, "noise-1e-03", quiet, 0.01),
        *(_text(p, "noise-1e-03", quiet, 0.01) for p in (2, 4)),
        _text(2, "int8", [[20, 20, 20, 20]] * 6, 0.0),  # tokens within the margin, sketch off
        _text(2, "sampling", quiet, 5.0),  # sketch within T, tokens outside the margin
    ]
    chain = analyse_text_chain(records, margin=0.1, designs=("s",))
    entry = chain["candidates"]["s"]
    assert entry["tolerance"] == 4
    assert entry["honest_accept"]["noise-1e-03"] == entry["honest_resolved"]["noise-1e-03"] == 1
    assert entry["detection"] == {"int8": 1.0, "sampling": 1.0}
    assert entry["sketch_detection"] == {"int8": 1.0, "sampling": 0.0}


def test_a_recorded_trajectory_keeps_lane_distances_of_both_auditors() -> None:
    """One Digits-Gen trajectory of 4 steps: the lanes add up to the 256-bit distance, each pair
    has one row per step, and the record survives JSON."""
    from inference.study.audit_steps import audit_trajectory, digits_setting

    setting = digits_setting(4)
    designs = [DESIGNS["q0.3-prediction"], DESIGNS["sign-state"]]
    record = audit_trajectory(setting, 1, "noise-1e-03", designs, 1e-3)
    for design in designs:
        lanes = record.lane_distances[design.name]
        assert len(lanes) == 4 and all(len(step) == 4 for step in lanes)
        assert [sum(step) for step in lanes] == record.step_distances[design.name]
        assert len(record.second_lane_distances[design.name]) == 4
        assert len(record.auditor_lane_distances[design.name]) == 4
    assert TrajectoryRecord(**json.loads(json.dumps(asdict(record)))) == record


def test_a_recorded_generation_keeps_lane_distances_per_position() -> None:
    from inference.models import load_model
    from inference.study.audit_text import run_text

    backend = load_model("tiny-llama").text_backend
    (record,) = run_text(backend, ["Hello"], 4, conditions=["noise-1e-03"])
    for name, lanes in record.hidden_lanes.items():
        assert len(lanes) == record.tokens
        assert [sum(p) for p in lanes] == record.hidden_distances[name]
        assert len(record.second_hidden_lanes[name]) == len(record.auditor_hidden_lanes[name])
    assert record.second_max_gap is not None
