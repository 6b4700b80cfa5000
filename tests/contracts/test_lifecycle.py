"""Full task lifecycles: committees of 3, 5 and 7, the draw phase, tolerance edges per lane, ties
(decided by the digests, not the reveal order), no consensus, expiry, slashing of deviating,
non-revealing and non-committing members, deadlines."""

from __future__ import annotations

import pytest
from contract_testlib import (
    Actors,
    commit_all,
    commitment,
    digest_with_flips,
    events,
    operator_info,
    register_model,
    request,
    reveal,
    reverts,
    run_task,
    salt_for,
    send,
    stake_of,
    task_info,
    tolerance,
    warp_past,
)
from web3 import Web3
from web3.contract import Contract

from inference.digests import INVALID_INPUT_DIGEST
from oracle.chain.views import DrawFailure, FailureReason, Phase, SlashReason, TaskStatus

BASE = bytes.fromhex("0123456789abcdef" * 4)
FAR = bytes.fromhex("fedcba9876543210" * 4)
#: A model whose honest floor is exact agreement, so a request may ask for any tolerance.
EXACT_MODEL = Web3.keccak(text="test-exact-model")


@pytest.fixture
def exact_model(oracle: Contract, operators: list[str], actors: Actors) -> bytes:
    """A second model with a zero default tolerance, served by every operator."""
    register_model(oracle, actors.owner, EXACT_MODEL, 0, "phash64", 0, 0x40404040, "")
    for operator in operators:
        send(oracle.functions.serveModel(EXACT_MODEL), operator)
    return EXACT_MODEL


@pytest.mark.parametrize("size", [3, 5, 7])
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
    info = task_info(oracle, task.id)
    assert info["status"] == TaskStatus.RESOLVED and info["result"] == BASE
    assert oracle.functions.resultOf(task.id).call() == BASE
    assert oracle.functions.taskPhase(task.id).call() == Phase.FINISHED
    for member in task.committee:
        assert oracle.functions.creditOf(member).call() == task.fee // size
        assert operator_info(oracle, member)["openTasks"] == 0  # released


@pytest.mark.parametrize("lane", [0, 1, 2, 3])
def test_distance_equal_to_threshold_agrees_and_one_more_does_not(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, exact_model: bytes, lane: int
) -> None:
    thresholds = [0, 0, 0, 0]
    thresholds[lane] = 5
    tol = tolerance(*thresholds)
    # distance == threshold: two members agree, the third is far away and deviates.
    task = request(oracle, actors.requester, size=3, tol=tol, model=exact_model)
    near = digest_with_flips(BASE, lane, 5)
    receipt = run_task(w3c, oracle, task, [BASE, near, FAR])
    resolved = events(oracle, receipt, "TaskResolved")[0]
    # Both agreeing digests have support 2; `near` is the more central (FAR is BASE's complement).
    assert resolved["support"] == 2 and resolved["digest"] == near
    assert events(oracle, receipt, "OperatorSlashed")[0]["operator"] == task.committee[2]
    # threshold + 1: nobody agrees with anybody.
    task = request(oracle, actors.requester, size=3, tol=tol, model=exact_model)
    too_far = digest_with_flips(BASE, lane, 6)
    receipt = run_task(w3c, oracle, task, [BASE, too_far, FAR])
    assert events(oracle, receipt, "TaskFailed")[0]["reason"] == FailureReason.NO_CONSENSUS


def test_difference_in_unused_lane_with_zero_threshold_disagrees(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, exact_model: bytes
) -> None:
    task = request(oracle, actors.requester, size=3, tol=tolerance(10, 0, 0, 0), model=exact_model)
    one_bit_in_lane3 = digest_with_flips(BASE, 3, 1)
    receipt = run_task(w3c, oracle, task, [BASE, one_bit_in_lane3, FAR])
    assert events(oracle, receipt, "TaskFailed")[0]["reason"] == FailureReason.NO_CONSENSUS


@pytest.mark.parametrize("first", [0, 1])
def test_tie_is_decided_by_the_digests_not_the_reveal_order(
    w3c: Web3,
    oracle: Contract,
    operators: list[str],
    actors: Actors,
    exact_model: bytes,
    first: int,
) -> None:
    task = request(oracle, actors.requester, size=3, tol=tolerance(4, 0, 0, 0), model=exact_model)
    a, b = BASE, digest_with_flips(BASE, 0, 3)  # a ~ b: both have support 2
    digests = {task.committee[0]: a, task.committee[1]: b, task.committee[2]: FAR}
    commit_all(w3c, oracle, task, digests, task.committee)
    order = [task.committee[first], task.committee[1 - first], task.committee[2]]
    receipt = None
    for member in order:
        receipt = reveal(w3c, oracle, task, member, digests[member])
    resolved = events(oracle, receipt, "TaskResolved")[0]
    # Both have support 2; b is closer to the third digest (FAR is BASE's complement), so b is
    # the most central and wins whoever revealed first.
    assert resolved["digest"] == b
    assert resolved["support"] == 2
    assert sorted(resolved["agreeing"]) == sorted(task.committee[:2])


def test_no_consensus_refunds_the_requester_and_slashes_nobody(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, exact_model: bytes
) -> None:
    task = request(oracle, actors.requester, size=3, tol=tolerance(0, 0, 0, 0), model=exact_model)
    stakes = [stake_of(oracle, m) for m in task.committee]
    receipt = run_task(w3c, oracle, task, [BASE, FAR, digest_with_flips(BASE, 1, 9)])
    assert events(oracle, receipt, "TaskFailed")[0]["reason"] == FailureReason.NO_CONSENSUS
    assert events(oracle, receipt, "OperatorSlashed") == []
    assert oracle.functions.creditOf(actors.requester).call() == task.fee
    assert [stake_of(oracle, m) for m in task.committee] == stakes
    assert task_info(oracle, task.id)["status"] == TaskStatus.NO_CONSENSUS


def test_expiry_with_too_few_commits_refunds_and_slashes_only_the_absent(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    task = request(oracle, actors.requester, size=3)
    committer = task.committee[0]
    commit_all(w3c, oracle, task, {committer: BASE}, [committer])
    with reverts("WrongPhase"):
        send(oracle.functions.resolve(task.id), actors.outsider)
    warp_past(w3c, task.commit_deadline)
    assert oracle.functions.taskPhase(task.id).call() == Phase.RESOLVABLE
    stakes = {m: stake_of(oracle, m) for m in task.committee}
    receipt = send(oracle.functions.resolve(task.id), actors.outsider)
    assert events(oracle, receipt, "TaskFailed")[0]["reason"] == FailureReason.EXPIRED
    slashed = {e["operator"]: e for e in events(oracle, receipt, "OperatorSlashed")}
    # The committer could not reveal (no majority committed): it is not blamed.
    assert committer not in slashed
    assert stake_of(oracle, committer) == stakes[committer]
    for absent in task.committee[1:]:
        assert slashed[absent]["reason"] == SlashReason.NOT_COMMITTED
        assert slashed[absent]["amount"] == stakes[absent] * 200 // 10_000
    # The absent members' slashes go to the treasury, not to the committer (a lazy member could
    # otherwise commit garbage at the last moment to collect them); the fee back to the requester.
    total = sum(e["amount"] for e in slashed.values())
    assert oracle.functions.creditOf(committer).call() == 0
    assert oracle.functions.treasuryBalance().call() == total
    assert oracle.functions.creditOf(actors.requester).call() == task.fee
    assert task_info(oracle, task.id)["status"] == TaskStatus.EXPIRED


def test_non_revealer_is_slashed_for_the_revealers(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    task = request(oracle, actors.requester, size=3)
    lazy = task.committee[2]
    digests = dict.fromkeys(task.committee, BASE)
    run_task(w3c, oracle, task, digests, reveal_members=task.committee[:2])
    assert oracle.functions.taskPhase(task.id).call() == Phase.REVEAL
    warp_past(w3c, task.reveal_deadline)
    stake = stake_of(oracle, lazy)
    receipt = send(oracle.functions.resolve(task.id), actors.outsider)
    slash = events(oracle, receipt, "OperatorSlashed")[0]
    assert slash["operator"] == lazy and slash["reason"] == SlashReason.NOT_REVEALED
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
    assert slash["operator"] == task.committee[2] and slash["reason"] == SlashReason.DEVIATED
    resolved = events(oracle, receipt, "TaskResolved")[0]
    credited = resolved["share"] * len(resolved["agreeing"])
    credited += sum(e["amount"] for e in events(oracle, receipt, "Credited"))
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
    assert task_info(oracle, task.id)["status"] == TaskStatus.EXPIRED  # 1 of 3 revealed


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


def test_committee_is_drawn_after_the_request_block_and_by_the_first_commit(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    task = request(oracle, actors.requester, size=3, drawn=False)
    info = task_info(oracle, task.id)
    assert info["status"] == TaskStatus.DRAWING and info["committee"] == []
    assert info["drawBlock"] == task.receipt["blockNumber"] == task.draw_block
    assert oracle.functions.taskPhase(task.id).call() == Phase.DRAW
    # In the request's own block the randomness does not exist: nothing to preview.
    committee, entropy = oracle.functions.committeeOf(task.id).call()
    assert committee == [] and entropy == b"\0" * 32
    # From the next block on, the committee the draw will produce is known (weights are frozen).
    preview, entropy = oracle.functions.committeeOf(task.id).call(block_identifier="pending")
    assert len(set(preview)) == 3 and entropy != b"\0" * 32
    member = preview[1]
    c = commitment(w3c, oracle, task.id, member, BASE, salt_for(task.id, member))
    receipt = send(oracle.functions.commit(task.id, c), member)  # draws, then commits
    drawn = events(oracle, receipt, "CommitteeDrawn")[0]
    assert list(drawn["committee"]) == list(preview) and drawn["entropy"] == entropy
    info = task_info(oracle, task.id)
    assert info["status"] == TaskStatus.OPEN and info["committee"] == list(preview)
    assert info["committed"] == [False, True, False]
    # Drawn out of turn: the keepers' scan has not passed it yet, and skips it when it does.
    assert oracle.functions.drawnThrough().call() == task.id - 1
    assert oracle.functions.drawCommittees(16).call({"from": actors.outsider}) == 0


def test_a_task_drawn_after_its_commit_deadline_still_slashes_the_absent_committee(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    """Nobody drew it in time (no member committed, no keeper): the committee was known from the
    next block on and the weights are frozen, so it is drawn late and answers for not
    committing."""
    task = request(oracle, actors.requester, size=3, drawn=False)
    warp_past(w3c, task.commit_deadline)
    receipt = send(oracle.functions.resolve(task.id), actors.outsider)
    assert len(events(oracle, receipt, "CommitteeDrawn")) == 1
    assert events(oracle, receipt, "TaskFailed")[0]["reason"] == FailureReason.EXPIRED
    assert len(events(oracle, receipt, "OperatorSlashed")) == 3
    assert oracle.functions.creditOf(actors.requester).call() == task.fee


def test_a_task_nobody_draws_within_256_blocks_fails_not_drawn_and_refunds(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    task = request(oracle, actors.requester, size=3, drawn=False)
    w3c.provider.make_request("anvil_mine", [hex(300)])  # type: ignore[arg-type]
    receipt = send(oracle.functions.resolve(task.id), actors.outsider)
    assert events(oracle, receipt, "CommitteeNotDrawn")[0]["reason"] == DrawFailure.STALE_RANDOMNESS
    assert events(oracle, receipt, "TaskFailed")[0]["reason"] == FailureReason.NOT_DRAWN
    assert events(oracle, receipt, "OperatorSlashed") == []
    assert oracle.functions.creditOf(actors.requester).call() == task.fee
    info = task_info(oracle, task.id)
    assert info["status"] == TaskStatus.EXPIRED and info["committee"] == []
