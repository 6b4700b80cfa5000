"""The challenge: which k of n steps (or token positions) the auditors recompute, drawn from a
seed that did not exist when the executor committed (the contract's later randomness).

A partial Fisher-Yates shuffle driven by ``keccak256(abi.encode(seed, counter))``, so a contract
can draw the same indices with a loop of k hashes; the modulo bias is below 2^-200.
"""

from __future__ import annotations

import math

from eth_hash.auto import keccak


def challenge_indices(seed: bytes, n: int, k: int) -> list[int]:
    """k distinct indices in 0..n-1 (all of them when k >= n), sorted."""
    if len(seed) != 32:
        raise ValueError(f"a challenge seed has 32 bytes, got {len(seed)}")
    if n < 1 or k < 1:
        raise ValueError(f"a challenge needs n >= 1 and k >= 1, got n={n}, k={k}")
    k = min(k, n)
    pool = list(range(n))
    for j in range(k):
        word = int.from_bytes(keccak(seed + j.to_bytes(32, "big")), "big")
        pick = j + word % (n - j)
        pool[j], pool[pick] = pool[pick], pool[j]
    return sorted(pool[:k])


def detection_probability(f: float, k: int, n: int | None = None) -> float:
    """Chance that a challenge of k steps hits at least one of the f*n faked ones: 1-(1-f)^k
    with replacement; without replacement (n given) the exact hypergeometric figure."""
    if n is None:
        return 1.0 - (1.0 - f) ** k
    faked = round(f * n)
    k = min(k, n)
    if faked == 0:
        return 0.0
    if n - faked < k:
        return 1.0
    return 1.0 - math.comb(n - faked, k) / math.comb(n, k)


def challenge_size(f: float, target: float) -> int:
    """The smallest k that catches an executor faking a fraction f with probability >= target
    (with replacement: an upper bound on what sampling without replacement needs)."""
    if not 0 < f <= 1 or not 0 < target < 1:
        raise ValueError(f"need 0 < f <= 1 and 0 < target < 1, got f={f}, target={target}")
    if f == 1:
        return 1
    return max(1, math.ceil(math.log(1 - target) / math.log(1 - f)))
