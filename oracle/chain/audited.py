"""The audited mode's protocol rules, as AuditedTasks applies them (no I/O): the challenged leaf
(whose sketches are the compared digests), the commitment, the executor's opening and the
reserved digests. Node code and tests build their calls from these, so the chain and the
off-chain side cannot drift apart.

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
#: What an auditor reveals when the executor did not serve it the challenged evidence in time.
EVIDENCE_WITHHELD_DIGEST = keccak(text="genoracle.evidence-withheld")
#: Audited task ids start above this (the replicated oracle's ids stay below it).
TASK_ID_OFFSET = 1 << 128


def challenge(seed: bytes, leaf_count: int) -> int:
    """The challenged leaf (AuditedTasks.challengeOf): `challenge_indices(seed, n, 1)`. The
    compared digests are the executor's and each auditor's sketch of that leaf."""
    return challenge_indices(seed, leaf_count, 1)[0]


def refusal_opening(executor: str) -> tuple[Any, ...]:
    """The `SketchOpening` of an executor that refused the input: it submitted
    INVALID_INPUT_DIGEST with no leaves and zero roots, and opens no sketch."""
    zero = b"\0" * 32
    return (executor, INVALID_INPUT_DIGEST, zero, 0, zero, zero, [])


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
    commitment: Commitment, index: int, executor: str, result: bytes
) -> tuple[Any, ...]:
    """The executor's `SketchOpening` for `openSketches`: what it submitted (its address, result
    digest, sketch root and leaf count, which the contract's submission seal binds), the sketch
    of the challenged leaf, the secret its salt derives from (`leaf_salt`), and its Merkle path."""
    sketch, _salt, proof = commitment.opening(index)
    return (
        executor,
        result,
        commitment.sketch_tree.root,
        commitment.sketch_tree.size,
        sketch,
        commitment.secret,
        proof,
    )
