"""The audited mode's protocol rules, as AuditedTasks applies them (no I/O): the challenge, the
compared digest, the commitment, the executor's opening and the reserved digest. Node code and
tests build their calls from these, so the chain and the off-chain side cannot drift apart.

The contract's ABI: `load_abi(AUDITED_CONTRACT)`; its address: the deployment record's `audited`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_utils.crypto import keccak

from inference.audit.challenge import challenge_indices
from inference.audit.merkle import Commitment
from inference.digests import INVALID_INPUT_DIGEST
from oracle.chain.views import commitment as _commitment

AUDITED_CONTRACT = "AuditedTasks"
#: Challenged leaves per task: one per 64-bit lane of the compared digest.
CHALLENGE_SIZE = 4
#: What an auditor reveals when the executor did not serve it the challenged evidence in time.
EVIDENCE_WITHHELD_DIGEST = keccak(text="genoracle.evidence-withheld")
#: Audited task ids start above this (the replicated oracle's ids stay below it).
TASK_ID_OFFSET = 1 << 128
_LANE = (1 << 64) - 1


def challenge(seed: bytes, leaf_count: int) -> list[int]:
    """The challenged leaves (AuditedTasks.challengeOf): `challenge_indices(seed, n, 4)`, sorted,
    repeated cyclically to 4 when the tree has fewer leaves."""
    picks = challenge_indices(seed, leaf_count, CHALLENGE_SIZE)
    return [picks[j % len(picks)] for j in range(CHALLENGE_SIZE)]


def compared_digest(sketches: Sequence[bytes], indices: Sequence[int]) -> bytes:
    """The digest executor and auditors are compared on: lane j (64 bits, lane 0 the most
    significant) is lane j of the sketch of challenged leaf `indices[j]`."""
    if len(indices) != CHALLENGE_SIZE:
        raise ValueError(f"a challenge has {CHALLENGE_SIZE} leaves, got {len(indices)}")
    value = 0
    for j, index in enumerate(indices):
        shift = 64 * (CHALLENGE_SIZE - 1 - j)
        value |= int.from_bytes(sketches[index], "big") & (_LANE << shift)
    return value.to_bytes(32, "big")


def refusal_opening(executor: str) -> tuple[Any, ...]:
    """The `SketchOpening` of an executor that refused the input: it submitted
    INVALID_INPUT_DIGEST with no leaves and zero roots, and opens no sketches."""
    zero = b"\0" * 32
    return (executor, INVALID_INPUT_DIGEST, zero, 0, [zero] * CHALLENGE_SIZE, zero, [])


def paid_members(paid_mask: int, members: Sequence[str]) -> list[str]:
    """The members an AuditResolved log's `paidMask` names (bit 0 the executor, bit p auditor
    p), in position order; `members` as getAuditTask gives them."""
    return [member for position, member in enumerate(members) if paid_mask >> position & 1]


def audit_commitment(
    chain_id: int, audited: str, task_id: int, auditor: str, digest: bytes, salt: bytes
) -> bytes:
    """An auditor's commitment: keccak256(abi.encode(chainid, auditedTasks, taskId, auditor,
    digest, salt)), the replicated mode's rule with AuditedTasks' address."""
    return _commitment(chain_id, audited, task_id, auditor, digest, salt)


def sketch_opening(
    commitment: Commitment, indices: Sequence[int], executor: str, result: bytes
) -> tuple[Any, ...]:
    """The executor's `SketchOpening` for `openSketches`: what it submitted (its address, result
    digest, sketch root and leaf count, which the contract's submission seal binds), the sketch
    of each challenged leaf, the secret their salts derive from (`leaf_salt`), and one proof for
    the challenged leaves together (`MerkleTree.multiproof`)."""
    opened = [commitment.opening(i) for i in indices]
    return (
        executor,
        result,
        commitment.sketch_tree.root,
        commitment.sketch_tree.size,
        [sketch for sketch, _, _ in opened],
        commitment.secret,
        commitment.sketch_tree.multiproof(indices),
    )
