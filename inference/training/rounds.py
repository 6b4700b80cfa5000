"""Deciding a round off chain: the tolerant majority over the members' round digests and the
rule that picks the round's canonical checkpoint.

The majority is the contract's (``GenerationOracle``): member i's support is the number of
members whose digest agrees with its own (itself included, every lane within the tolerance); the
round resolves when the largest support is a strict majority, and a member agrees with the round
when its own support is a majority or its digest agrees with a best-supported member's. The
canonical checkpoint is the agreeing member's with the lowest checkpoint sha256: a rule on the
data, not on time, that every member computes alike; the others fetch it by that sha256 and
continue from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from inference.digests import Tolerance, digests_agree


@dataclass(frozen=True)
class RoundOutcome:
    resolved: bool
    agreeing: tuple[int, ...]
    """Indices of the members that agree with the round (empty when it did not resolve)."""
    canonical: int | None
    """Index of the member whose checkpoint every member continues from."""


def decide_round(
    digests: Sequence[bytes], checkpoint_sha256s: Sequence[str], tolerance: Tolerance
) -> RoundOutcome:
    """The tolerant majority of a round and its canonical member."""
    if len(digests) != len(checkpoint_sha256s) or not digests:
        raise ValueError("one digest and one checkpoint sha256 per member, at least one member")
    count = len(digests)
    agree = [[digests_agree(a, b, tolerance) for b in digests] for a in digests]
    support = [sum(row) for row in agree]
    majority = count // 2 + 1
    best = max(support)
    if best < majority:
        return RoundOutcome(False, (), None)
    leaders = [i for i in range(count) if support[i] == best]
    agreeing = tuple(
        i
        for i in range(count)
        if support[i] >= majority or any(agree[i][leader] for leader in leaders)
    )
    canonical = min(agreeing, key=lambda i: checkpoint_sha256s[i])
    return RoundOutcome(True, agreeing, canonical)
