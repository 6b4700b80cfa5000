"""revealBatch: one transaction carries several members' openings (the aggregated reveal)."""

from __future__ import annotations

import pytest
from contract_testlib import (
    Actors,
    commit_all,
    digest_with_flips,
    events,
    request,
    reveal,
    reverts,
    salt_for,
    send,
    task_info,
    warp_past,
)
from web3 import Web3
from web3.contract import Contract

from oracle.chain.views import Phase, TaskStatus

BASE = bytes.fromhex("0123456789abcdef" * 4)
FAR = bytes.fromhex("fedcba9876543210" * 4)


def opening(task_id: int, committee: list[str], member: str, digest: bytes) -> tuple:
    return (committee.index(member), member, digest, salt_for(task_id, member))


@pytest.mark.parametrize("size", [3, 5, 7])
def test_one_batch_from_anyone_reveals_every_member_and_resolves(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, size: int
) -> None:
    task = request(oracle, actors.requester, size=size)
    digests = {member: BASE for member in task.committee}
    digests[task.committee[-1]] = FAR  # one deviating member
    commit_all(w3c, oracle, task, digests, task.committee)
    openings = [opening(task.id, task.committee, m, digests[m]) for m in task.committee]
    receipt = send(oracle.functions.revealBatch(task.id, openings), actors.outsider)
    revealed = events(oracle, receipt, "DigestRevealed")
    assert [(e["operator"], e["digest"]) for e in revealed] == list(digests.items())
    resolved = events(oracle, receipt, "TaskResolved")[0]
    assert resolved["digest"] == BASE and resolved["support"] == size - 1
    assert oracle.functions.resultOf(task.id).call() == BASE
    assert task_info(oracle, task.id)["status"] == TaskStatus.RESOLVED
    slashed = events(oracle, receipt, "OperatorSlashed")
    assert [e["operator"] for e in slashed] == [task.committee[-1]]


def test_a_partial_batch_then_a_single_reveal_resolves(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    task = request(oracle, actors.requester, size=3)
    digests = {m: digest_with_flips(BASE, 0, i) for i, m in enumerate(task.committee)}
    commit_all(w3c, oracle, task, digests, task.committee)
    first, second, third = task.committee
    batch = [opening(task.id, task.committee, m, digests[m]) for m in (third, first)]
    receipt = send(oracle.functions.revealBatch(task.id, batch), first)
    assert events(oracle, receipt, "TaskResolved") == []
    assert task_info(oracle, task.id)["revealed"] == [True, False, True]
    assert oracle.functions.taskPhase(task.id).call() == Phase.REVEAL
    receipt = reveal(w3c, oracle, task, second, digests[second])
    resolved = events(oracle, receipt, "TaskResolved")[0]
    # Reveal order: third, first, second; all within the default tolerance of each other, so all
    # have support 3 and the most central digest (the second member's: 1 bit from each of the
    # others) wins, whatever the order.
    assert resolved["digest"] == digests[second] and resolved["support"] == 3


def test_revealbatch_reverts(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    task = request(oracle, actors.requester, size=3)
    first, second, third = task.committee
    digests = dict.fromkeys(task.committee, BASE)
    own = [opening(task.id, task.committee, m, BASE) for m in task.committee]
    with reverts("WrongPhase"):  # nobody committed yet: still the commit phase
        send(oracle.functions.revealBatch(task.id, own[:1]), first)
    with reverts("TaskNotFound"):
        send(oracle.functions.revealBatch(999, own[:1]), first)
    commit_all(w3c, oracle, task, digests, [first, second])
    warp_past(w3c, task.commit_deadline)  # the third never commits
    with reverts("NoOpenings"):
        send(oracle.functions.revealBatch(task.id, []), first)
    with reverts("InvalidPosition"):
        send(oracle.functions.revealBatch(task.id, [(3, first, BASE, own[0][3])]), first)
    with reverts("NotCommitted"):
        send(oracle.functions.revealBatch(task.id, own), first)
    with reverts("CommitmentMismatch"):  # the right salt, another digest
        send(oracle.functions.revealBatch(task.id, [(0, first, FAR, own[0][3])]), first)
    with reverts("NotCommitteeMember"):  # a member's opening presented at another position
        send(oracle.functions.revealBatch(task.id, [(1, first, BASE, own[0][3])]), first)
    with reverts("CommitmentMismatch"):  # ... or under the member who holds that position
        send(oracle.functions.revealBatch(task.id, [(1, second, BASE, own[0][3])]), first)
    # The same opening twice in one batch: the repeat is skipped, not an error.
    oracle.functions.revealBatch(task.id, [own[0], own[0]]).call({"from": first})
    reveal(w3c, oracle, task, first, BASE)
    with reverts("NothingToReveal"):  # every opening in it is revealed already
        send(oracle.functions.revealBatch(task.id, own[:1]), second)
    # A batch that includes an already revealed opening skips it and reveals the rest.
    receipt = send(oracle.functions.revealBatch(task.id, own[:2]), actors.outsider)
    assert [e["operator"] for e in events(oracle, receipt, "DigestRevealed")] == [second]
    assert events(oracle, receipt, "TaskResolved")[0]["support"] == 2  # the third was slashed
    with reverts("WrongPhase"):
        send(oracle.functions.revealBatch(task.id, own[2:]), third)
