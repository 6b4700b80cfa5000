"""The audit study under the chain's comparison: what AuditedTasks actually compares, and the
one per-model lane tolerance T that it applies.

The contract challenges one leaf (``oracle.chain.audited.challenge``: ``challenge_indices(seed,
n, 1)``) and compares executor and auditors on their 256-bit sketches of it, as 4 lanes of 64
bits. Two digests agree when every lane's Hamming distance is within the task's per-lane
tolerance; the registry holds one T per model, the same for all 4 lanes. So what matters is the
lane distance of each (leaf, lane), not the 256-bit distance of a leaf's whole sketch.
``CHAIN_CHALLENGE`` distinct leaves fill the 4 lanes (lane j from the sketch of leaf
``indices[j mod k]``): 1 on chain; the study's records allow any k up to 4.

Calibration: T = the largest honest lane distance over every step (position) and every lane of
the odd seeds (prompts) at the calibration noise (images: IMAGE_CALIBRATION_NOISE, text:
CALIBRATION_NOISE), over all three honest pairs of each record
(executor and each auditor, the two auditors), + TOLERANCE_SLACK, at most 64. The maximum over
every (leaf, lane) rather than over the lanes that sampled challenges showed: the challenge is
uniform, so any step can be challenged, and a threshold must cover the worst of them; the
maximum over challenges is at most this.

Judgement on even seeds (prompts), ``CHALLENGE_DRAWS`` challenges per record:

- honest acceptance: the executor's compared digest within T of one honest auditor's in all 4
  lanes (per challenge);
- majority resolution: executor + 2 auditors, the tolerant majority resolves for the executor
  (TolerantMajority: with 3 members the executor is in the winner's agreeing set iff it agrees
  with at least one auditor);
- detection: the executor is outvoted, i.e. agrees with neither auditor while the two auditors
  agree with each other (``pair_detection``: disagrees with the first auditor).

For text an auditor whose margin check fails reveals the reserved digest, which agrees with no
sketch digest (two such auditors agree with each other); the margin itself is the text study's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from hashlib import sha256
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.audit.challenge import challenge_indices, detection_probability
from inference.study.audit_steps import (
    CALIBRATION_NOISE,
    FAKED_FRACTIONS,
    IMAGE_CALIBRATION_NOISE,
    IMAGE_NOISE_LEVELS,
    NOISE_LEVELS,
    OTHER_IMAGE_CONDITIONS,
    STEP_DESIGNS,
    TEXT_IMPOSTORS,
    TOLERANCE_SLACK,
    WHOLE_IMAGE_IMPOSTORS,
    Lanes,
    TrajectoryRecord,
    faked_name,
    honest_name,
)

CHAIN_CHALLENGE = 1
"""Challenged leaves per audited task (AuditedTasks.challengeOf: one)."""
LANES = 4
LANE_BITS = 64
CHALLENGE_DRAWS = 200
HONEST_TARGET = 0.999

IntArray = npt.NDArray[np.int64]


def chain_challenge(seed: bytes, leaves: int) -> list[int]:
    """The leaf each of the 4 lanes is compared on: CHAIN_CHALLENGE indices drawn by
    ``challenge_indices``, sorted, repeated cyclically to 4 (one leaf on chain: every lane)."""
    picks = challenge_indices(seed, leaves, CHAIN_CHALLENGE)
    return [picks[j % len(picks)] for j in range(LANES)]


@lru_cache(maxsize=256)
def _draws(record_seed: int, leaves: int, draws: int) -> IntArray:
    """(draws, 4): the leaf each lane is compared on, per challenge of one record (the same for
    every condition)."""
    return np.asarray(
        [
            chain_challenge(sha256(f"challenge/{record_seed}/{draw}".encode()).digest(), leaves)
            for draw in range(draws)
        ],
        dtype=np.int64,
    )


def compared_lanes(lanes: Lanes | IntArray, indices: IntArray) -> IntArray:
    """Lane distances of the compared digests: for (..., 4) leaves per lane, lane j of leaf
    ``indices[..., j]`` (one leaf on chain: the four lanes of its sketch)."""
    table = np.asarray(lanes, dtype=np.int64).reshape(-1, LANES)
    picked: IntArray = table[np.asarray(indices), np.arange(LANES)]
    return picked


def lane_tolerance(honest: Sequence[Lanes]) -> tuple[int, int]:
    """(largest honest lane distance, T = that + TOLERANCE_SLACK, at most 64)."""
    largest = max((int(np.max(lanes)) for lanes in honest if len(lanes)), default=0)
    return largest, min(LANE_BITS, largest + TOLERANCE_SLACK)


def modelled_rejection(honest: Sequence[Lanes], tolerance: int) -> float:
    """A model of honest rejection per challenge beyond what the counts can show: each honest
    (leaf, pair) has its own bit-flip rate p (its 256-bit distance / 256), a lane of it is
    Binomial(64, p), and a challenge compares 4 lanes: 1 - (1 - mean P(lane > T))^4."""
    tails = []
    for lanes in honest:
        for row in lanes:
            p = sum(row) / (LANES * LANE_BITS)
            tails.append(_binomial_tail(p, tolerance))
    if not tails:
        return float("nan")
    return 1.0 - (1.0 - float(np.mean(tails))) ** LANES


@lru_cache(maxsize=65536)
def _binomial_tail(p: float, tolerance: int) -> float:
    """P(Binomial(64, p) > tolerance)."""
    return float(
        sum(
            math.comb(LANE_BITS, k) * p**k * (1 - p) ** (LANE_BITS - k)
            for k in range(tolerance + 1, LANE_BITS + 1)
        )
    )


def _agree(lanes: Lanes, indices: IntArray, tolerance: int) -> npt.NDArray[np.bool_]:
    if not len(lanes):  # nothing was generated: empty sketch trees compare equal
        return np.ones(len(indices), dtype=bool)
    return np.asarray((compared_lanes(lanes, indices) <= tolerance).all(axis=-1))


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


Votes = tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]
"""Per challenge: executor agrees with auditor 1, with auditor 2; the auditors agree."""


def majority_outcome(votes: Votes) -> dict[str, float]:
    """Shares of challenges: executor agrees with the first auditor (``pair``), the tolerant
    majority of 3 resolves for the executor (``resolved``), the executor is outvoted by two
    agreeing auditors (``outvoted``)."""
    first, second, auditors = votes
    return {
        "pair": float(first.mean()),
        "resolved": float((first | second).mean()),
        "outvoted": float((~first & ~second & auditors).mean()),
    }


def _outcomes(rows: Sequence[Votes]) -> dict[str, float]:
    if not rows:
        return {"pair": float("nan"), "resolved": float("nan"), "outvoted": float("nan")}
    merged = tuple(np.concatenate([r[i] for r in rows]) for i in range(3))
    return majority_outcome(merged)  # type: ignore[arg-type]


def diffusion_votes(
    record: TrajectoryRecord, design: str, tolerance: int, draws: int = CHALLENGE_DRAWS
) -> Votes:
    """Per chain challenge of one trajectory, the three pairwise agreements within T."""
    lanes = record.lane_distances[design]
    indices = _draws(record.seed, len(lanes), draws)
    first = _agree(lanes, indices, tolerance)
    if record.second_lane_distances:
        second = _agree(record.second_lane_distances[design], indices, tolerance)
        auditors = _agree(record.auditor_lane_distances[design], indices, tolerance)
    else:  # a record with one auditor: the second is taken to vote as the first
        second, auditors = first, np.ones_like(first)
    return first, second, auditors


def _honest_lanes(records: Sequence[TrajectoryRecord], design: str) -> list[Lanes]:
    out: list[Lanes] = []
    for r in records:
        out.append(r.lane_distances[design])
        if r.second_lane_distances:
            out += [r.second_lane_distances[design], r.auditor_lane_distances[design]]
    return out


def analyse_diffusion_chain(
    records: Sequence[TrajectoryRecord], designs: Sequence[str] = STEP_DESIGNS
) -> dict[str, Any]:
    """Per design: T from the odd seeds, then on the even seeds honest acceptance and majority
    resolution per noise level, detection per impostor and per faked fraction; the chosen design
    (honest pair acceptance >= 99.9 % at IMAGE_CALIBRATION_NOISE, then the best mean
    whole-model detection, then the weakest) with its largest honest lane distance per step."""
    calibrated = honest_name(IMAGE_CALIBRATION_NOISE)
    calibration = [r for r in records if r.seed % 2 == 1 and r.condition == calibrated]
    if not calibration or not calibration[0].lane_distances:
        raise ValueError("no honest calibration trajectories with lane distances")
    judged: dict[str, list[TrajectoryRecord]] = {}
    for record in records:
        if record.seed % 2 == 0:
            judged.setdefault(record.condition, []).append(record)
    candidates: dict[str, Any] = {}
    steps = len(next(iter(calibration[0].lane_distances.values())))
    for design in designs:
        if design not in calibration[0].lane_distances:
            continue
        largest, tolerance = lane_tolerance(_honest_lanes(calibration, design))
        held_out = _honest_lanes(judged.get(calibrated, []), design)
        compared = [
            compared_lanes(r.lane_distances[design], _draws(r.seed, steps, CHALLENGE_DRAWS))
            for r in calibration
        ]

        def outcome(condition: str, d: str = design, t: int = tolerance) -> dict[str, float]:
            return _outcomes([diffusion_votes(r, d, t) for r in judged.get(condition, [])])

        honest = {honest_name(eps): outcome(honest_name(eps)) for eps in IMAGE_NOISE_LEVELS}
        others = {c: outcome(c) for c in (*WHOLE_IMAGE_IMPOSTORS, *OTHER_IMAGE_CONDITIONS)}
        faked = {faked_name(f): outcome(faked_name(f)) for f in FAKED_FRACTIONS}
        candidates[design] = {
            "honest_max_lane": largest,
            "honest_max_compared": max(int(c.max()) for c in compared),
            "honest_max_lane_judged": lane_tolerance(held_out)[0],
            "modelled_honest_reject": modelled_rejection(held_out, tolerance),
            "tolerance": tolerance,
            "honest_accept": {c: o["pair"] for c, o in honest.items()},
            "honest_resolved": {c: o["resolved"] for c, o in honest.items()},
            "detection": {c: o["outvoted"] for c, o in {**others, **faked}.items()},
            "pair_detection": {c: 1.0 - o["pair"] for c, o in {**others, **faked}.items()},
        }
    chosen = _choose(candidates, WHOLE_IMAGE_IMPOSTORS, IMAGE_CALIBRATION_NOISE, IMAGE_NOISE_LEVELS)
    by_step = np.max([np.max(lanes, axis=1) for lanes in _honest_lanes(calibration, chosen)], 0)
    return {
        "challenge": CHAIN_CHALLENGE,
        "draws": CHALLENGE_DRAWS,
        "calibration_noise": IMAGE_CALIBRATION_NOISE,
        "noise_levels": list(IMAGE_NOISE_LEVELS),
        "candidates": candidates,
        "design": chosen,
        "tolerance": candidates[chosen]["tolerance"],
        "honest_max_lane_by_step": by_step.tolist(),
        "faked_analytic": {
            faked_name(f): detection_probability(f, CHAIN_CHALLENGE, steps - 1)
            for f in FAKED_FRACTIONS
        },
    }


def _choose(
    candidates: dict[str, Any],
    whole: Sequence[str],
    calibration_noise: float,
    noise_levels: Sequence[float],
    tie_break: str = "detection",
) -> str:
    """Honest acceptance >= HONEST_TARGET at the calibration noise, then the best mean detection of
    the whole-model impostors, then the weakest one, then the honest acceptance at the highest
    noise level (room for a noisier fleet), then the same of ``tie_break``'s figures.
    The mean first: int8 stays mostly inside the honest noise for every design, and a
    weakest-first rule trades 17-45 points on every other impostor for a few on int8
    (tiny-sd)."""
    calibrated = honest_name(calibration_noise)

    def weakest_and_mean(figures: dict[str, float]) -> tuple[float, float]:
        values = [figures.get(c, float("nan")) for c in whole]
        if not values or all(v != v for v in values):
            return 0.0, 0.0
        return float(np.nanmean(values)), float(np.nanmin(values))

    noisiest = honest_name(max(noise_levels))

    def score(name: str) -> tuple[bool, float, float, float, float, float]:
        entry = candidates[name]
        meets = entry["honest_accept"].get(calibrated, 0.0) >= HONEST_TARGET
        robust = entry["honest_accept"].get(noisiest, 0.0)
        return (
            meets,
            *weakest_and_mean(entry["detection"]),
            robust,
            *weakest_and_mean(entry[tie_break]),
        )

    return max(candidates, key=score)


# ---------------------------------------------------------------------------------------------
# Text: lane j of challenged position j's hidden-state sketch, and the margin check
# ---------------------------------------------------------------------------------------------


def _text_draws(record: Any, draws: int = CHALLENGE_DRAWS) -> IntArray:
    """The challenged positions of one generation (its leaves are its tokens)."""
    return _draws(10_000 + record.prompt, max(1, record.tokens), draws)


def text_votes(
    record: Any, design: str, tolerance: int, margin: float, draws: int = CHALLENGE_DRAWS
) -> Votes:
    """Per chain challenge of one generation: an auditor's digest is its hidden-state sketches'
    compared digest, or the reserved digest when a token is outside its margin."""
    lanes = record.hidden_lanes[design]
    indices = _text_draws(record, draws)
    first_ok = record.max_gap <= margin
    second_gap = record.second_max_gap if record.second_max_gap is not None else record.max_gap
    second_ok = second_gap <= margin
    first = _agree(lanes, indices, tolerance) & first_ok
    if record.second_hidden_lanes:
        second = _agree(record.second_hidden_lanes[design], indices, tolerance) & second_ok
        sketches = _agree(record.auditor_hidden_lanes[design], indices, tolerance)
    else:
        second, sketches = first, np.ones_like(first)
    if first_ok != second_ok:  # one reveals the reserved digest, the other sketches
        auditors = np.zeros_like(first)
    elif first_ok:
        auditors = sketches
    else:  # both reveal the reserved digest
        auditors = np.ones_like(first)
    return first, second, auditors


def analyse_text_chain(
    records: Sequence[Any], margin: float, designs: Sequence[str]
) -> dict[str, Any]:
    """The text study under the chain's comparison: per hidden-state design, T from the odd
    prompts at CALIBRATION_NOISE (all positions, all lanes, the three honest pairs), then on
    the even prompts honest acceptance and resolution per noise level and each impostor's
    detection, with the margin check as the text study sets it."""
    calibration = [
        r for r in records if r.prompt % 2 == 1 and r.condition == honest_name(CALIBRATION_NOISE)
    ]
    if not calibration or not calibration[0].hidden_lanes:
        raise ValueError("no honest calibration generations with lane distances")
    judged: dict[str, list[Any]] = {}
    for record in records:
        if record.prompt % 2 == 0:
            judged.setdefault(record.condition, []).append(record)
    candidates: dict[str, Any] = {}
    for design in designs:
        honest_lanes: list[Lanes] = []
        for r in calibration:
            honest_lanes.append(r.hidden_lanes[design])
            if r.second_hidden_lanes:
                honest_lanes += [r.second_hidden_lanes[design], r.auditor_hidden_lanes[design]]
        largest, tolerance = lane_tolerance(honest_lanes)
        held_out: list[Lanes] = []
        for r in judged.get(honest_name(CALIBRATION_NOISE), []):
            held_out.append(r.hidden_lanes[design])
            if r.second_hidden_lanes:
                held_out += [r.second_hidden_lanes[design], r.auditor_hidden_lanes[design]]
        outcomes = {
            c: _outcomes([text_votes(r, design, tolerance, margin) for r in rows])
            for c, rows in judged.items()
        }
        honest = {c: o for c, o in outcomes.items() if c.startswith("noise-")}
        candidates[design] = {
            "honest_max_lane": largest,
            "honest_max_lane_judged": lane_tolerance(held_out)[0],
            "modelled_honest_reject": modelled_rejection(held_out, tolerance),
            "tolerance": tolerance,
            "honest_accept": {c: o["pair"] for c, o in honest.items()},
            "honest_resolved": {c: o["resolved"] for c, o in honest.items()},
            "detection": {c: outcomes[c]["outvoted"] for c in TEXT_IMPOSTORS if c in outcomes},
            "pair_detection": {
                c: 1.0 - outcomes[c]["pair"] for c in TEXT_IMPOSTORS if c in outcomes
            },
            "sketch_detection": {
                c: _mean(
                    [
                        float(
                            1.0 - _agree(r.hidden_lanes[design], _text_draws(r), tolerance).mean()
                        )
                        for r in judged[c]
                    ]
                )
                for c in TEXT_IMPOSTORS
                if c in judged
            },
        }
    # The margin check alone catches most impostors: the sketch's own detection breaks ties.
    chosen = _choose(
        candidates, TEXT_IMPOSTORS, CALIBRATION_NOISE, NOISE_LEVELS, tie_break="sketch_detection"
    )
    return {
        "challenge": CHAIN_CHALLENGE,
        "draws": CHALLENGE_DRAWS,
        "calibration_noise": CALIBRATION_NOISE,
        "noise_levels": list(NOISE_LEVELS),
        "margin": margin,
        "candidates": candidates,
        "design": chosen,
        "tolerance": candidates[chosen]["tolerance"],
    }
