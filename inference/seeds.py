"""Seeds: how "seed 0" in a request becomes a seed nobody could have chosen in advance.

``derive_seed(task_id, entropy)`` is the first 8 bytes of
``sha256(b"genoracle.seed.v1" || task_id as 32-byte big-endian || entropy)``, read big-endian and
shifted right by one bit (a nonzero 63-bit value, so it fits a signed int64 such as
``torch.Generator.manual_seed``); a zero result becomes 1. ``entropy`` is the randomness the
contract emitted with the task (``TaskRequested.entropy``), so the seed is fixed only once the
task exists.
"""

from __future__ import annotations

from hashlib import sha256

SEED_DOMAIN = b"genoracle.seed.v1"
MAX_SEED = (1 << 63) - 1


def derive_seed(task_id: int, entropy: bytes) -> int:
    """The seed a task with seed 0 uses: a nonzero 63-bit integer from the task id and entropy."""
    if not 0 <= task_id < 1 << 256:
        raise ValueError(f"task id {task_id} is not a uint256")
    digest = sha256(SEED_DOMAIN + task_id.to_bytes(32, "big") + bytes(entropy)).digest()
    seed = int.from_bytes(digest[:8], "big") >> 1
    return seed or 1


def resolve_seed(requested: int, task_id: int, entropy: bytes) -> int:
    """The requested seed, or the derived one when the request says 0."""
    return requested if requested != 0 else derive_seed(task_id, entropy)
