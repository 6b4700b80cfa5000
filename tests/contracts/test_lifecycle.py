"""Full task lifecycles: committees of 1, 3 and 5, tolerance edges per lane, ties, no consensus,
expiry, slashing of deviating, non-revealing and non-committing members, deadlines."""

from __future__ import annotations

import pytest
from contract_testlib import (
    INVALID_INPUT_DIGEST,
    Actors,
    Phase,
    Status,
    commit_all,
    commitment,
    digest_with_flips,
    events,
    request,
    reveal,
    reverts,
    run_task,
    salt_for,
    send,
    tolerance,
    warp_past,
)
from web3 import Web3
from web3.contract import Contract

BASE = bytes.fromhex("0123456789abcdef" * 4)
FAR = bytes.fromhex("fedcba9876543210" * 4)


@pytest.mark.parametrize("size", [1, 3, 5])
def test_unanimous_committee_resolves_and_pays(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, size: int
) -> None:
    task = request(oracle, actors.requester, size=size)
    assert len(set(task.committee)) == size
    assert oracle.functions.taskPhase(task.id).call() == Phase.COMMIT
    receipt = run_task(w3c, oracle, task, [BASE] * size)
    resolved = events(oracle, receipt, "TaskResolved")[0]
    assert resolved["digest"] == BASE and resolved["support"] == size
    assert sorted(resolved["agreeing"]) == sorted(task.committee)
    info = oracle.functions.getTask(task.id).call()
    assert info[2] == Status.RESOLVED and info[8] == BASE
    assert oracle.functions.resultOf(task.id).call() == BASE
    assert oracle.functions.taskPhase(task.id).call() == Phase.FINISHED
    for member in task.committee:
        assert oracle.functions.creditOf(member).call() == task.fee // size
        assert oracle.functions.getOperator(member).call()[5] == 0  # openTasks released


@pytest.mark.parametrize("lane", [0, 1, 2, 3])
def test_distance_equal_to_threshold_agrees_and_one_more_does_not(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, lane: int
) -> None:
    thresholds = [0, 0, 0, 0]
    thresholds[lane] = 5
    tol = tolerance(*thresholds)
    # distance == threshold: two members agree, the third is far away and deviates.
    task = request(oracle, actors.requester, size=3, tol=tol)
    near = digest_with_flips(BASE, lane, 5)
    receipt = run_task(w3c, oracle, task, [BASE, near, FAR])
    resolved = events(oracle, receipt, "TaskResolved")[0]
    assert resolved["support"] == 2 and resolved["digest"] == BASE
    assert events(oracle, receipt, "OperatorSlashed")[0]["operator"] == task.committee[2]
    # threshold + 1: nobody agrees with anybody.
    task = request(oracle, actors.requester, size=3, tol=tol)
    too_far = digest_with_flips(BASE, lane, 6)
    receipt = run_task(w3c, oracle, task, [BASE, too_far, FAR])
    assert events(oracle, receipt, "TaskFailed")[0]["reason"] == 1  # NoConsensus


def test_difference_in_unused_lane_with_zero_threshold_disagrees(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    task = request(oracle, actors.requester, size=3, tol=tolerance(10, 0, 0, 0))
    one_bit_in_lane3 = digest_with_flips(BASE, 3, 1)
    receipt = run_task(w3c, oracle, task, [BASE, one_bit_in_lane3, FAR])
    assert events(oracle, receipt, "TaskFailed")[0]["reason"] == 1


@pytest.mark.parametrize("first", [0, 1])
def test_tie_goes_to_the_earliest_reveal(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, first: int
) -> None:
    task = request(oracle, actors.requester, size=3, tol=tolerance(4, 0, 0, 0))
    a, b = BASE, digest_with_flips(BASE, 0, 3)  # a ~ b: both have support 2
    digests = {task.committee[0]: a, task.committee[1]: b, task.committee[2]: FAR}
    commit_all(w3c, oracle, task, digests, task.committee)
    order = [task.committee[first], task.committee[1 - first], task.committee[2]]
    receipt = None
    for member in order:
        receipt = reveal(w3c, oracle, task, member, digests[member])
    resolved = events(oracle, receipt, "TaskResolved")[0]
    assert resolved["digest"] == digests[order[0]]
    assert resolved["support"] == 2


def test_no_consensus_refunds_the_requester_and_slashes_nobody(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    task = request(oracle, actors.requester, size=3, tol=tolerance(0, 0, 0, 0))
    stakes = [oracle.functions.getOperator(m).call()[0] for m in task.committee]
    receipt = run_task(w3c, oracle, task, [BASE, FAR, digest_with_flips(BASE, 1, 9)])
    assert events(oracle, receipt, "TaskFailed")[0]["reason"] == 1
    assert events(oracle, receipt, "OperatorSlashed") == []
    assert oracle.functions.creditOf(actors.requester).call() == task.fee
    assert [oracle.functions.getOperator(m).call()[0] for m in task.committee] == stakes
    assert oracle.functions.getTask(task.id).call()[2] == Status.NO_CONSENSUS


def test_expiry_with_too_few_commits_refunds_and_slashes_the_absent(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    task = request(oracle, actors.requester, size=3)
    committer = task.committee[0]
    commit_all(w3c, oracle, task, {committer: BASE}, [committer])
    with reverts("WrongPhase"):
        send(oracle.functions.resolve(task.id), actors.outsider)
    warp_past(w3c, task.commit_deadline)
    assert oracle.functions.taskPhase(task.id).call() == Phase.RESOLVABLE
    stakes = {m: oracle.functions.getOperator(m).call()[0] for m in task.committee}
    receipt = send(oracle.functions.resolve(task.id), actors.outsider)
    assert events(oracle, receipt, "TaskFailed")[0]["reason"] == 2  # Expired
    slashed = {e["operator"]: e for e in events(oracle, receipt, "OperatorSlashed")}
    assert slashed[committer]["reason"] == 2  # committed, never revealed
    assert slashed[committer]["amount"] == stakes[committer] * 1000 // 10_000
    for absent in task.committee[1:]:
        assert slashed[absent]["reason"] == 3  # never committed
        assert slashed[absent]["amount"] == stakes[absent] * 200 // 10_000
    # Nobody revealed: the slashed stake goes to the treasury; the fee back to the requester.
    assert oracle.functions.treasuryBalance().call() == sum(e["amount"] for e in slashed.values())
    assert oracle.functions.creditOf(actors.requester).call() == task.fee


def test_non_revealer_is_slashed_for_the_revealers(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    task = request(oracle, actors.requester, size=3)
    lazy = task.committee[2]
    digests = dict.fromkeys(task.committee, BASE)
    run_task(w3c, oracle, task, digests, reveal_members=task.committee[:2])
    assert oracle.functions.taskPhase(task.id).call() == Phase.REVEAL
    warp_past(w3c, task.reveal_deadline)
    stake = oracle.functions.getOperator(lazy).call()[0]
    receipt = send(oracle.functions.resolve(task.id), actors.outsider)
    slash = events(oracle, receipt, "OperatorSlashed")[0]
    assert slash["operator"] == lazy and slash["reason"] == 2
    assert slash["amount"] == stake // 10
    pool = task.fee + slash["amount"]
    for member in task.committee[:2]:
        assert oracle.functions.creditOf(member).call() == pool // 2
    assert oracle.functions.creditOf(lazy).call() == 0


def test_deviating_member_is_slashed_and_may_lose_eligibility(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    task = request(oracle, actors.requester, size=3)
    receipt = run_task(w3c, oracle, task, [BASE, BASE, FAR])
    slash = events(oracle, receipt, "OperatorSlashed")[0]
    assert slash["operator"] == task.committee[2] and slash["reason"] == 1
    credited = sum(e["amount"] for e in events(oracle, receipt, "Credited"))
    assert credited + oracle.functions.treasuryBalance().call() == task.fee + slash["amount"]


def test_invalid_input_digest_resolves_and_pays_verifiers(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    assert oracle.functions.INVALID_INPUT_DIGEST().call() == INVALID_INPUT_DIGEST
    task = request(oracle, actors.requester, size=3)
    receipt = run_task(w3c, oracle, task, [INVALID_INPUT_DIGEST] * 3)
    assert events(oracle, receipt, "TaskResolved")[0]["digest"] == INVALID_INPUT_DIGEST
    assert oracle.functions.creditOf(task.committee[0]).call() == task.fee // 3


def test_phase_errors_and_membership_errors(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    task = request(oracle, actors.requester, size=3)
    a, b, c = task.committee
    with reverts("TaskNotFound"):
        send(oracle.functions.commit(99, b"\x01" * 32), a)
    with reverts("NotCommitteeMember"):
        send(oracle.functions.commit(task.id, b"\x01" * 32), actors.outsider)
    with reverts("ZeroCommitment"):
        send(oracle.functions.commit(task.id, b"\x00" * 32), a)
    commit_all(w3c, oracle, task, {a: BASE}, [a])
    with reverts("AlreadyCommitted"):
        send(oracle.functions.commit(task.id, b"\x02" * 32), a)
    with reverts("WrongPhase"):  # reveal before everyone committed and before the deadline
        send(oracle.functions.reveal(task.id, BASE, salt_for(task.id, a)), a)
    commit_all(w3c, oracle, task, {b: BASE}, [b])
    warp_past(w3c, task.commit_deadline)
    with reverts("WrongPhase"):  # commit after the deadline
        send(oracle.functions.commit(task.id, b"\x03" * 32), c)
    with reverts("NotCommitted"):
        send(oracle.functions.reveal(task.id, BASE, salt_for(task.id, c)), c)
    with reverts("CommitmentMismatch"):
        send(oracle.functions.reveal(task.id, FAR, salt_for(task.id, a)), a)
    with reverts("WrongPhase"):  # resolve while reveals are pending
        send(oracle.functions.resolve(task.id), actors.outsider)
    reveal(w3c, oracle, task, a, BASE)
    with reverts("AlreadyRevealed"):
        send(oracle.functions.reveal(task.id, BASE, salt_for(task.id, a)), a)
    warp_past(w3c, task.reveal_deadline)
    with reverts("WrongPhase"):  # reveal after the reveal deadline
        send(oracle.functions.reveal(task.id, BASE, salt_for(task.id, b)), b)
    send(oracle.functions.resolve(task.id), actors.outsider)
    with reverts("WrongPhase"):
        send(oracle.functions.resolve(task.id), actors.outsider)
    assert oracle.functions.getTask(task.id).call()[2] == Status.EXPIRED  # 1 of 3 revealed


def test_commitment_binds_the_chain_contract_task_and_operator(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    expected = Web3.keccak(
        Web3.to_bytes(w3c.eth.chain_id).rjust(32, b"\0")
        + bytes.fromhex(oracle.address[2:]).rjust(32, b"\0")
        + (1).to_bytes(32, "big")
        + bytes.fromhex(actors.operators[0][2:]).rjust(32, b"\0")
        + BASE
        + b"\x07" * 32
    )
    assert commitment(w3c, oracle, 1, actors.operators[0], BASE, b"\x07" * 32) == expected
