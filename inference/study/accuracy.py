"""The noise study's analysis: candidate digest designs against modelled honest hardware noise.

Two steps, so that every figure can be recomputed from stored digests alone:

1. ``digest_setting`` turns each condition's stored samples into packed per-sample digests under
   every candidate design and writes them, with the (class, seed) of every row, to one compact
   ``<setting>-digests.npz`` (about 32 bytes per sample and design).
2. ``analyse_digests`` reads only that file. For each design and noise level it chooses the
   tolerance on the odd seeds (the largest honest lane distance seen, plus ``MARGIN`` bits) and
   judges it on the even seeds: the honest pair and majority-of-3 acceptance on real replica
   pairs and triples, and each impostor's detection (the share of its pairs with honest replicas
   that disagree). It also sweeps the graded lanes' threshold for the ROC.

A candidate design is lane 0 = the 64-bit pHash (bit for bit ``imagehash.phash``) plus up to
three 64-bit lanes; the graded designs (``proj``, ``sample``, ``block``) fill lanes 1-3 with 192
bits of a locality-sensitive hash whose expected distance grows with the size of the change.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.study.designs import (
    Design,
    candidate_designs,
    digest_setting,
    load_digests,
)
from inference.study.noise import (
    CONDITIONS,
    IMPOSTORS,
    NOISE_LEVELS,
    OTHER_SEED,
    REFERENCE,
    REPLICAS,
    TARGET_NOISE,
    honest_names,
)

MARGIN = 2
"""Bits of headroom over the largest honest distance seen on the calibration seeds."""
TARGETS = {"honest_pair": 0.999, "honest_majority3": 0.9999, "detected": 0.99}


def _distances(a: npt.NDArray[np.uint64], b: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
    return np.asarray(np.bitwise_count(a ^ b), dtype=np.int64)


@dataclass(frozen=True)
class PairSets:
    """Per-lane distances (n, 4) of one seed half: honest replica pairs per cell (pairs,
    cells, 4), each impostor against every honest replica, and the replicas' triples."""

    honest: npt.NDArray[np.int64]
    impostors: dict[str, npt.NDArray[np.int64]]


def pair_sets(
    digests: dict[str, npt.NDArray[np.uint64]],
    present: dict[str, npt.NDArray[np.bool_]],
    classes: npt.NDArray[np.int64],
    rows: npt.NDArray[np.bool_],
    eps: float,
) -> PairSets:
    names = honest_names(eps)
    rows = rows & np.logical_and.reduce([present[n] for n in [REFERENCE.name, *names]])
    replicas = [digests[name][rows] for name in names]
    honest = np.stack([_distances(a, b) for a, b in itertools.combinations(replicas, 2)])
    impostors: dict[str, npt.NDArray[np.int64]] = {}
    for condition in IMPOSTORS:
        if condition.name not in digests:
            continue
        held = present[condition.name][rows]
        if held.any():
            submitted = digests[condition.name][rows][held]
            impostors[condition.name] = np.concatenate(
                [_distances(submitted, r[held]) for r in replicas]
            )
    # Another seed of the same class: the reference sample of seed s' against the replicas of s.
    reference = digests[REFERENCE.name][rows]
    own = classes[rows]
    other: list[npt.NDArray[np.int64]] = []
    for digit in np.unique(own):
        members = np.nonzero(own == digit)[0]
        for replica in replicas:
            d = np.bitwise_count(replica[members][:, None, :] ^ reference[members][None, :, :])
            off = ~np.eye(len(members), dtype=bool)
            other.append(d[off].astype(np.int64))
    if other and sum(part.size for part in other):
        impostors[OTHER_SEED] = np.concatenate(other)
    return PairSets(honest, impostors)


def choose_tolerance(honest: npt.NDArray[np.int64], graded: Sequence[int]) -> list[int]:
    """Largest honest distance per lane plus MARGIN; the graded lanes share one threshold."""
    flat = honest.reshape(-1, 4)
    worst = flat.max(axis=0)
    tolerance = [0, 0, 0, 0]
    tolerance[0] = int(min(64, worst[0] + MARGIN))
    if graded:
        shared = int(min(64, max(int(worst[lane]) for lane in graded) + MARGIN))
        for lane in graded:
            tolerance[lane] = shared
    return tolerance


def _agree(d: npt.NDArray[np.int64], tolerance: Sequence[int]) -> npt.NDArray[np.bool_]:
    return np.asarray(np.all(d <= np.asarray(tolerance), axis=-1))


def judge(sets: PairSets, tolerance: Sequence[int]) -> dict[str, Any]:
    """Honest pair and majority-of-3 acceptance, and each impostor's detection."""
    agree = _agree(sets.honest, tolerance)  # (pairs, cells)
    pairs = list(itertools.combinations(range(REPLICAS), 2))
    index = {pair: i for i, pair in enumerate(pairs)}
    resolved = []
    for trio in itertools.combinations(range(REPLICAS), 3):
        links = [agree[index[p]] for p in itertools.combinations(trio, 2)]
        # Three digests resolve when some digest agrees with another (support 2 of 3).
        resolved.append(np.logical_or.reduce(links))
    triples = np.stack(resolved)
    return {
        "honest_pair_accept": float(agree.mean()),
        "honest_pairs": int(agree.size),
        "honest_majority3_accept": float(triples.mean()),
        "honest_triples": int(triples.size),
        "detected": {
            name: float(1.0 - _agree(d, tolerance).mean()) for name, d in sets.impostors.items()
        },
        "impostor_pairs": {name: int(d.shape[0]) for name, d in sets.impostors.items()},
    }


def meets_targets(figures: dict[str, Any]) -> bool:
    """The issue's targets; a setting without impostors (a floor check) is judged on honesty."""
    return bool(
        figures["honest_pair_accept"] >= TARGETS["honest_pair"]
        and figures["honest_majority3_accept"] >= TARGETS["honest_majority3"]
        and min(figures["detected"].values(), default=1.0) >= TARGETS["detected"]
    )


def roc(sets: PairSets, tolerance: Sequence[int], graded: Sequence[int]) -> list[dict[str, Any]]:
    """The graded lanes' shared threshold swept (lane 0 as calibrated): honest acceptance
    against the weakest impostor detection (another seed excluded: it is caught by lane 0)."""
    points = []
    lanes = list(graded) or [0]
    for threshold in range(0, 65, 2):
        point = list(tolerance)
        for lane in lanes:
            point[lane] = threshold
        honest = float(_agree(sets.honest, point).mean())
        detected = {
            n: float(1.0 - _agree(d, point).mean())
            for n, d in sets.impostors.items()
            if n != OTHER_SEED
        }
        points.append(
            {
                "threshold": threshold,
                "honest_pair_accept": honest,
                "weakest_detected": min(detected.values()) if detected else float("nan"),
                "mean_detected": float(np.mean(list(detected.values())))
                if detected
                else float("nan"),
            }
        )
    return points


def changed_summary(changed: dict[str, npt.NDArray[np.float32]]) -> dict[str, Any]:
    """Per noise level (all replicas) and per impostor: how many 8-bit values differ from the
    noise-free reference (percentiles of the per-sample share)."""
    out: dict[str, Any] = {}
    groups: dict[str, list[str]] = {f"noise {eps:g}": honest_names(eps) for eps in NOISE_LEVELS}
    groups |= {c.name: [c.name] for c in IMPOSTORS}
    for label, names in groups.items():
        values = [changed[n][~np.isnan(changed[n])] for n in names if n in changed]
        if not values or not sum(v.size for v in values):
            continue
        joined = np.concatenate(values)
        out[label] = {
            q: float(np.percentile(joined, p))
            for q, p in (("p1", 1), ("p50", 50), ("p99", 99), ("max", 100))
        }
    return out


def boundary_by_impostor(per_noise: dict[str, Any]) -> dict[str, float]:
    """For each impostor, the largest noise at which it is still detected >= 99 % while honest
    pairs and triples meet their targets (0: not even at the smallest modelled noise)."""
    names = sorted({n for f in per_noise.values() for n in f["detected"]})
    out: dict[str, float] = {}
    for name in names:
        ok = [
            float(eps)
            for eps, f in per_noise.items()
            if f["detected"].get(name, 0.0) >= TARGETS["detected"]
            and f["honest_pair_accept"] >= TARGETS["honest_pair"]
            and f["honest_majority3_accept"] >= TARGETS["honest_majority3"]
        ]
        out[name] = max(ok) if ok else 0.0
    return out


def analyse_digests(path: Path, designs: Sequence[Design] | None = None) -> dict[str, Any]:
    """Every design at every noise level: tolerance chosen on odd seeds, judged on even ones."""
    stored = load_digests(path)
    graded = {d.name: d.graded for d in (designs or candidate_designs())}
    odd = stored.seeds % 2 == 1
    even = ~odd
    if not odd.any() or not even.any():
        odd = even = np.ones_like(odd)
    result: dict[str, Any] = {
        "cells": int(stored.seeds.size),
        "designs": {},
        "changed_values": changed_summary(stored.changed),
    }
    for design, digests in stored.packed.items():
        per_noise: dict[str, Any] = {}
        for eps in NOISE_LEVELS:
            if not all(name in digests for name in honest_names(eps)):
                continue
            calibration = pair_sets(digests, stored.present, stored.classes, odd, eps)
            held = pair_sets(digests, stored.present, stored.classes, even, eps)
            tolerance = choose_tolerance(calibration.honest, graded.get(design, (1,)))
            figures = judge(held, tolerance)
            per_noise[f"{eps:g}"] = {
                "tolerance": tolerance,
                **figures,
                "meets_targets": meets_targets(figures),
                "roc": roc(held, tolerance, graded.get(design, (1,))),
            }
        met = [float(k) for k, v in per_noise.items() if v["meets_targets"]]
        result["designs"][design] = {
            "noise": per_noise,
            "boundary_noise": max(met) if met else 0.0,
            "boundary_by_impostor": boundary_by_impostor(per_noise),
        }
    return result


def design_score(entry: dict[str, Any], eps: float = TARGET_NOISE) -> tuple[float, ...]:
    """How a design ranks at one noise level (held-out figures at its own calibrated tolerance):
    targets met, then how many impostors it detects >= 99 %, then their mean detection, then
    honest majority-of-3 acceptance. A setting without impostors ranks by honesty alone."""
    figures = entry["noise"].get(f"{eps:g}")
    if figures is None:
        return (0.0, 0.0, 0.0, 0.0)
    detected = list(figures["detected"].values())
    return (
        float(figures["meets_targets"]),
        float(sum(d >= TARGETS["detected"] for d in detected)),
        float(np.mean(detected)) if detected else 1.0,
        figures["honest_majority3_accept"],
    )


def best_design(results: Sequence[dict[str, Any]], eps: float = TARGET_NOISE) -> str:
    """The design with the best summed score over the given settings (models)."""
    names: list[str] = sorted(set.intersection(*(set(r["designs"]) for r in results)))

    def total(name: str) -> tuple[float, ...]:
        scores = [design_score(r["designs"][name], eps) for r in results]
        return tuple(float(sum(column)) for column in zip(*scores, strict=True))

    return str(max(names, key=total))


__all__ = ["CONDITIONS", "analyse_digests", "best_design", "candidate_designs", "digest_setting"]
