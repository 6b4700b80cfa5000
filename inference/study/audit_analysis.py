"""The audit study's analysis of recomputed diffusion steps: thresholds from the calibration
(odd) seeds, then on the held-out (even) seeds the honest acceptance and each impostor's
detection, per step and per task against the challenge size k."""

from __future__ import annotations

import math
from collections.abc import Sequence
from hashlib import sha256
from typing import Any

import numpy as np

from inference.audit.challenge import challenge_indices, detection_probability
from inference.study.audit_chain import analyse_diffusion_chain
from inference.study.audit_steps import (
    CHALLENGE_SIZES,
    FAKED_FRACTIONS,
    IMAGE_CALIBRATION_NOISE,
    IMAGE_NOISE_LEVELS,
    OTHER_IMAGE_CONDITIONS,
    STEP_DESIGNS,
    TOLERANCE_SLACK,
    WHOLE_IMAGE_IMPOSTORS,
    TrajectoryRecord,
    faked_name,
    honest_name,
)


def _split(records: Sequence[TrajectoryRecord], odd: bool) -> list[TrajectoryRecord]:
    return [r for r in records if (r.seed % 2 == 1) == odd]


TOLERANCE_KINDS = ("fixed", "per-step")
"""fixed: one threshold for every step; per-step: one per step index (n bytes, one storage slot
for n <= 32), since honest noise moves some steps (the first ones, the last) far more."""
PER_STEP_FACTOR = 1.25


def step_tolerances(records: Sequence[TrajectoryRecord], design: str, kind: str) -> list[int]:
    """Thresholds per step index from the calibration (odd) seeds at IMAGE_CALIBRATION_NOISE: fixed,
    the largest honest distance + TOLERANCE_SLACK; per-step, PER_STEP_FACTOR x the largest at
    that step (or its neighbours) + TOLERANCE_SLACK."""
    calibration = np.asarray(
        [
            r.step_distances[design]
            for r in _split(records, odd=True)
            if r.condition == honest_name(IMAGE_CALIBRATION_NOISE)
        ]
    )
    if calibration.size == 0:
        raise ValueError(f"no honest calibration trajectories at noise {IMAGE_CALIBRATION_NOISE:g}")
    if kind == "fixed":
        return [min(255, int(calibration.max()) + TOLERANCE_SLACK)] * calibration.shape[1]
    per_step = calibration.max(axis=0)
    padded = np.pad(per_step, 1, mode="edge")
    local = np.maximum(np.maximum(padded[:-2], padded[1:-1]), padded[2:])
    return [min(255, math.ceil(PER_STEP_FACTOR * v) + TOLERANCE_SLACK) for v in local]


def _failing(record: TrajectoryRecord, design: str, tolerances: Sequence[int]) -> Any:
    return np.asarray(record.step_distances[design]) > np.asarray(tolerances)


def challenge_detection(
    records: Sequence[TrajectoryRecord],
    design: str,
    tolerances: Sequence[int],
    k: int,
    draws: int = 200,
) -> float:
    """Share of (trajectory, challenge) pairs in which a challenged step fails: the measured
    per-task detection with k challenged steps (``draws`` challenges per trajectory)."""
    caught = 0
    total = 0
    for record in records:
        failing = _failing(record, design, tolerances)
        for draw in range(draws):
            seed = sha256(f"challenge/{record.seed}/{draw}".encode()).digest()
            caught += bool(failing[challenge_indices(seed, len(failing), k)].any())
            total += 1
    return caught / total if total else float("nan")


def step_rate(records: Sequence[TrajectoryRecord], design: str, tolerances: Sequence[int]) -> float:
    """Share of steps whose distance exceeds their threshold."""
    if not records:
        return float("nan")
    return float(np.mean([_failing(r, design, tolerances) for r in records]))


def analyse_diffusion(records: Sequence[TrajectoryRecord]) -> dict[str, Any]:
    """Per design and tolerance kind: thresholds from odd seeds, then on even seeds honest step
    acceptance per noise level and per-step detection per impostor; the chosen candidate (honest
    >= 99.9 % per step at the calibration noise, then the best weakest whole-model detection,
    then the mean); its task-level figures against the challenge size k."""
    judged = _split(records, odd=False)
    by_condition: dict[str, list[TrajectoryRecord]] = {}
    for record in judged:
        by_condition.setdefault(record.condition, []).append(record)
    candidates: dict[str, Any] = {}
    for name in STEP_DESIGNS:
        for kind in TOLERANCE_KINDS:
            tolerances = step_tolerances(records, name, kind)
            faked = {}
            for f in FAKED_FRACTIONS:
                rows = by_condition.get(faked_name(f), [])
                caught = [bool(_failing(r, name, tolerances)[i]) for r in rows for i in r.faked]
                faked[faked_name(f)] = float(np.mean(caught)) if caught else float("nan")
            candidates[f"{name}/{kind}"] = {
                "design": name,
                "kind": kind,
                "tolerances": tolerances,
                "honest_step_accept": {
                    honest_name(eps): 1.0
                    - step_rate(by_condition.get(honest_name(eps), []), name, tolerances)
                    for eps in IMAGE_NOISE_LEVELS
                },
                "step_detection": {
                    c: step_rate(by_condition.get(c, []), name, tolerances)
                    for c in (*WHOLE_IMAGE_IMPOSTORS, *OTHER_IMAGE_CONDITIONS)
                },
                "faked_step_detection": faked,
            }

    def score(key: str) -> tuple[bool, float, float]:
        entry = candidates[key]
        meets = entry["honest_step_accept"][honest_name(IMAGE_CALIBRATION_NOISE)] >= 0.999
        whole = [entry["step_detection"][c] for c in WHOLE_IMAGE_IMPOSTORS]
        detections = [*whole, *entry["faked_step_detection"].values()]
        return meets, float(np.nanmin(whole)), float(np.nanmean(detections))

    chosen = max(candidates, key=score)
    design = candidates[chosen]["design"]
    tolerances = candidates[chosen]["tolerances"]
    steps = len(tolerances)
    challenge: dict[str, Any] = {}
    for f in FAKED_FRACTIONS:
        rows = by_condition.get(faked_name(f), [])
        challenge[faked_name(f)] = {
            str(k): {
                "measured": challenge_detection(rows, design, tolerances, k),
                "analytic": detection_probability(f, k),
                "without_replacement": detection_probability(f, k, steps - 1),
            }
            for k in CHALLENGE_SIZES
        }
    chain = analyse_diffusion_chain(records) if records and records[0].lane_distances else None
    return {
        "chain": chain,
        "seeds_calibration": sorted({r.seed for r in _split(records, odd=True)}),
        "seeds_judged": sorted({r.seed for r in judged}),
        "steps": steps,
        "candidates": candidates,
        "chosen": chosen,
        "design": design,
        "tolerances": tolerances,
        "challenge_detection": challenge,
        "honest_task_accept": {
            honest_name(eps): {
                str(k): 1.0
                - challenge_detection(by_condition.get(honest_name(eps), []), design, tolerances, k)
                for k in CHALLENGE_SIZES
            }
            for eps in IMAGE_NOISE_LEVELS
        },
        "task_detection": {
            c: {
                str(k): challenge_detection(by_condition.get(c, []), design, tolerances, k)
                for k in CHALLENGE_SIZES
            }
            for c in (*WHOLE_IMAGE_IMPOSTORS, *OTHER_IMAGE_CONDITIONS)
        },
        "decode_match": {
            c: float(np.mean([r.decode_match for r in rows])) for c, rows in by_condition.items()
        },
        "honest_max_by_step": np.asarray(
            [
                r.step_distances[design]
                for r in records
                if r.condition == honest_name(IMAGE_CALIBRATION_NOISE)
            ]
        )
        .max(axis=0)
        .tolist(),
    }
