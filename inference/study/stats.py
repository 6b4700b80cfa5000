"""The statistics of the study: majority voting, per-threshold rates, tolerance choice.

Pure functions over numpy arrays so that each can be checked on constructed data with a known
answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import comb

import numpy as np
import numpy.typing as npt


def majority_probability(p: float, voters: int) -> float:
    """P(a strict majority of `voters` independent events of probability p); 3p^2 - 2p^3 for 3."""
    if p != p:  # NaN: no pairs of that kind were measured
        return float("nan")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability {p} is outside [0, 1]")
    need = voters // 2 + 1
    return sum(comb(voters, k) * p**k * (1.0 - p) ** (voters - k) for k in range(need, voters + 1))


def agreement_rate(hist: npt.NDArray[np.int64], tx: int, ty: int) -> float:
    """Fraction of the pairs of an (x, y) histogram with x <= tx and y <= ty (NaN if empty)."""
    total = int(hist.sum())
    if total == 0:
        return float("nan")
    return float(hist[: tx + 1, : ty + 1].sum()) / total


def agreement_grid(hist: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """grid[tx, ty] = agreement_rate(hist, tx, ty) for every threshold pair at once."""
    total = hist.sum()
    if total == 0:
        return np.full(hist.shape, np.nan)
    return np.cumsum(np.cumsum(hist, axis=0), axis=1) / float(total)


def agree_matrix(
    distances: npt.NDArray[np.uint8], tolerance: Sequence[int]
) -> npt.NDArray[np.bool_]:
    """The contract rule on per-lane distances (..., 4): every lane within its threshold."""
    limits = np.asarray(tolerance, dtype=np.int64)
    return np.asarray(np.all(distances.astype(np.int64) <= limits, axis=-1))


def contract_resolves(agree: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """For (..., k, k) pairwise agreement among k revealed digests: does the task resolve?

    As GenerationOracle: support_i = #{j : agree(d_i, d_j)} (i included); the task resolves when
    the largest support is a strict majority of the k members.
    """
    k = agree.shape[-1]
    support = agree.sum(axis=-1)
    return np.asarray(support.max(axis=-1) >= k // 2 + 1)


def accepted_by_majority(agree_with_verifiers: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """(..., k): does a submitted digest agree with a strict majority of k verifiers?"""
    k = agree_with_verifiers.shape[-1]
    return np.asarray(agree_with_verifiers.sum(axis=-1) >= k // 2 + 1)


@dataclass(frozen=True)
class Recommendation:
    """The chosen tolerance coordinates and why."""

    tx: int
    ty: int
    honest_rate: float
    min_detection: float
    collision_rate: float
    reason: str


def recommend_tolerance(
    honest: npt.NDArray[np.int64],
    impostors: Sequence[npt.NDArray[np.int64]],
    collisions: npt.NDArray[np.int64],
    *,
    two_coordinates: bool,
    margin: int = 2,
    honest_floor: float = 1.0 - 1e-4,
) -> Recommendation:
    """The tightest tolerance that keeps honest pairs agreeing with headroom.

    Every extra bit of tolerance can only lower impostor detection and raise collisions, so the
    tolerance exists only to absorb honest variation: take the largest honest distance seen on each
    coordinate plus `margin` bits of headroom for hardware the study did not see, then widen it
    only if the honest agreement would still fall below `honest_floor`.
    """
    xs = np.nonzero(honest.sum(axis=1))[0]
    ys = np.nonzero(honest.sum(axis=0))[0]
    worst_x = int(xs.max()) if xs.size else 0
    worst_y = int(ys.max()) if ys.size else 0
    bins = honest.shape[0] - 1
    tx = min(bins, worst_x + margin)
    ty = min(bins, worst_y + margin) if two_coordinates else 0
    y_limit = bins if two_coordinates else 0
    while agreement_rate(honest, tx, ty) < honest_floor and (tx < bins or ty < y_limit):
        tx, ty = min(bins, tx + 1), min(y_limit, ty + 1)
    detections = [1.0 - agreement_rate(h, tx, ty) for h in impostors if h.sum() > 0]
    return Recommendation(
        tx,
        ty,
        agreement_rate(honest, tx, ty),
        min(detections) if detections else float("nan"),
        agreement_rate(collisions, tx, ty),
        f"largest honest distance ({worst_x}, {worst_y}) + {margin} bits of headroom",
    )
