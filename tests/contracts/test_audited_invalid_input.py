"""The replicated mode's input rule in the audited mode: an executor that refuses the input
submits INVALID_INPUT_DIGEST with no trees, the auditors check the claim, and a requester's
invalid input slashes nobody. Before, a refusing executor submitted nothing and was slashed for
it: a requester could slash honest executors with invalid inputs (or an input over the compute
budget).

The attackers: a requester with an invalid input; a lazy executor that calls a valid input
invalid to skip the generation; a lazy auditor that calls it invalid to skip the audit; an
executor that submits a refusal with trees, or a result without. Balance invariant after each."""

from __future__ import annotations

from typing import Any

from contract_testlib import (
    Actors,
    AuditedClient,
    AuditedTask,
    assert_audited_invariant,
    audited_consumer,
    audited_digest,
    make_commitment,
    reverts,
    send,
    stake_of,
)
from web3 import Web3
from web3.contract import Contract

from deploy.deployer import Deployment, audited_at
from inference.digests import INVALID_INPUT_DIGEST
from oracle.chain.audited import EVIDENCE_WITHHELD_DIGEST, paid_members, refusal_opening

RESULT = bytes.fromhex("cd" * 32)
ZERO = b"\0" * 32
RESOLVED, REJECTED = 4, 5
WITHHELD_REASON = 6
NO_CONSENSUS_REASON = 4  # AuditFailure.NoConsensus
SLASH_DEVIATED, SLASH_WITHHELD = 4, 5
INVALID_INPUT_REASON = 3  # IOracleTypes.FailureReason.InvalidInput


def _client(oracle: Contract, deployment: Deployment) -> AuditedClient:
    assert deployment.audited is not None
    return AuditedClient(audited_at(oracle.w3, deployment.audited))


def _people(actors: Actors, *extra: str) -> list[str]:
    return [*actors.operators, actors.requester, actors.outsider, actors.owner, *extra]


def _refused(client: AuditedClient, actors: Actors, requester: str | None = None) -> AuditedTask:
    """A task whose executor refused the input (the invalid-input digest, no trees) and whose
    auditors a keeper drew."""
    task = client.request(requester or actors.requester)
    client.draw(task, actors.outsider)
    fn = client.contract.functions.submitExecution(task.id, INVALID_INPUT_DIGEST, ZERO, ZERO, 0)
    receipt = send(fn, task.executor)
    task.result = INVALID_INPUT_DIGEST
    assert client.event(receipt, "ExecutionSubmitted")[0]["leafCount"] == 0
    return client.draw(task, actors.outsider)


def _stakes(oracle: Contract, task: AuditedTask) -> dict[str, int]:
    assert task.auditors is not None
    return {m: stake_of(oracle, m) for m in [task.executor, *task.auditors]}


def test_a_requesters_invalid_input_resolves_as_invalid_and_slashes_nobody(
    w3c: Web3, oracle: Contract, oracle_deployment: Deployment, actors: Actors, operators: list[str]
) -> None:
    """The requester (a dApp) sends an input every node refuses: the executor says so, both
    auditors agree, the task resolves as invalid input, every member is paid for the check
    (as in the replicated mode), nobody is slashed, and the dApp hears InvalidInput."""
    client = _client(oracle, oracle_deployment)
    consumer = audited_consumer(client, actors.owner)
    fee = client.required_fee(2, 100_000)
    model = Web3.keccak(text="test-model")
    receipt = send(
        consumer.functions.request(model, b'{"prompt": 5}', 2, 0xFFFFFFFF, 100_000),
        actors.requester,
        fee,
    )
    event = client.event(receipt, "AuditTaskRequested")[0]
    task = client.draw(AuditedTask(id=event["taskId"], fee=fee, receipt=receipt), actors.outsider)
    send(
        client.contract.functions.submitExecution(task.id, INVALID_INPUT_DIGEST, ZERO, ZERO, 0),
        task.executor,
    )
    client.draw(task, actors.outsider)
    assert task.auditors is not None
    stakes = _stakes(oracle, task)
    for auditor in task.auditors:
        client.commit(task, auditor, INVALID_INPUT_DIGEST)
    openings = [client.opening(task, a, INVALID_INPUT_DIGEST) for a in task.auditors]
    receipt = client.open(
        task, make_commitment(1), openings, opening=refusal_opening(task.executor)
    )

    resolved = client.event(receipt, "AuditResolved")[0]
    assert resolved["digest"] == INVALID_INPUT_DIGEST and resolved["support"] == 3
    members = [task.executor, *task.auditors]
    assert paid_members(resolved["paidMask"], members) == members
    assert list(resolved["digests"]) == [INVALID_INPUT_DIGEST] * 3
    assert client.event(receipt, "AuditSlashed") == []
    assert _stakes(oracle, task) == stakes
    assert client.contract.functions.resultOf(task.id).call() == INVALID_INPUT_DIGEST
    # The dApp is told the input was invalid, not handed the reserved digest as a result.
    assert consumer.functions.failedCount().call() == 1
    assert consumer.functions.verifiedCount().call() == 0
    assert consumer.functions.lastTaskId().call() == task.id
    assert consumer.functions.lastReason().call() == INVALID_INPUT_REASON
    assert_audited_invariant(oracle, client.contract, _people(actors, consumer.address))


def test_an_executor_that_calls_a_valid_input_invalid_is_slashed(
    oracle: Contract, oracle_deployment: Deployment, actors: Actors, operators: list[str]
) -> None:
    """A lazy executor skips the generation by calling the input invalid: the auditors find it
    valid, reveal "evidence withheld", and the executor is slashed; they are paid."""
    client = _client(oracle, oracle_deployment)
    task = _refused(client, actors)
    assert task.auditors is not None
    stakes = _stakes(oracle, task)
    for auditor in task.auditors:
        client.commit(task, auditor, EVIDENCE_WITHHELD_DIGEST)
    openings = [client.opening(task, a, EVIDENCE_WITHHELD_DIGEST) for a in task.auditors]
    receipt = client.open(
        task, make_commitment(1), openings, opening=refusal_opening(task.executor)
    )
    assert client.event(receipt, "AuditFailed")[0]["reason"] == WITHHELD_REASON
    (slashed,) = client.event(receipt, "AuditSlashed")
    assert slashed["operator"] == task.executor and slashed["reason"] == SLASH_WITHHELD
    assert stake_of(oracle, task.executor) < stakes[task.executor]
    assert all(stake_of(oracle, a) == stakes[a] for a in task.auditors)
    assert_audited_invariant(oracle, client.contract, _people(actors))


def test_an_auditor_that_calls_a_valid_input_invalid_is_outvoted(
    oracle: Contract, oracle_deployment: Deployment, actors: Actors, operators: list[str]
) -> None:
    """A lazy auditor skips the audit by calling the input invalid: the reserved digest agrees
    with no real one, so the executor and the honest auditor resolve it and the lazy one is
    slashed."""
    client = _client(oracle, oracle_deployment)
    honest = make_commitment(20, tag="valid-input")
    task = client.request(actors.requester)
    client.draw(task, actors.outsider)
    client.submit(task, RESULT, honest)
    client.draw(task, actors.outsider)
    assert task.auditors is not None
    digest = audited_digest(list(honest.sketches), client.challenge(task, 20))
    good, lazy = task.auditors
    client.commit(task, good, digest)
    client.commit(task, lazy, INVALID_INPUT_DIGEST)
    openings = [
        client.opening(task, good, digest),
        client.opening(task, lazy, INVALID_INPUT_DIGEST),
    ]
    receipt = client.open(task, honest, openings)
    resolved = client.event(receipt, "AuditResolved")[0]
    assert resolved["digest"] == RESULT and resolved["support"] == 2
    (slashed,) = client.event(receipt, "AuditSlashed")
    assert slashed["operator"] == lazy and slashed["reason"] == SLASH_DEVIATED
    assert_audited_invariant(oracle, client.contract, _people(actors))


def test_a_refusal_has_no_trees_and_a_result_has_some(
    oracle: Contract, oracle_deployment: Deployment, actors: Actors, operators: list[str]
) -> None:
    """No leaves exactly when the executor refuses: a refusal with trees (which it could open as
    sketches) and a result without (which it could open as a refusal) are both refused, and a
    refusal's opening cannot carry another result."""
    client = _client(oracle, oracle_deployment)
    task = client.request(actors.requester)
    client.draw(task, actors.outsider)
    honest = make_commitment(20, tag="trees")
    submit = client.contract.functions.submitExecution
    root, sketch_root = honest.evidence.root, honest.sketch_tree.root
    with reverts("AuditInvalidLeafCount"):
        send(submit(task.id, INVALID_INPUT_DIGEST, root, sketch_root, 20), task.executor)
    with reverts("AuditInvalidLeafCount"):
        send(submit(task.id, RESULT, ZERO, ZERO, 0), task.executor)
    task = _refused(client, actors)
    assert task.auditors is not None
    for auditor in task.auditors:
        client.commit(task, auditor, INVALID_INPUT_DIGEST)
    forged: Any = (task.executor, RESULT, ZERO, 0, ZERO, ZERO, [])
    with reverts("AuditSubmissionMismatch"):
        client.open(task, honest, opening=forged)
    openings = [client.opening(task, a, INVALID_INPUT_DIGEST) for a in task.auditors]
    receipt = client.open(task, honest, openings, opening=refusal_opening(task.executor))
    assert client.event(receipt, "AuditResolved")[0]["digest"] == INVALID_INPUT_DIGEST
    assert_audited_invariant(oracle, client.contract, _people(actors))


def test_a_refusal_copied_by_a_lazy_auditor_is_no_majority(
    oracle: Contract, oracle_deployment: Deployment, actors: Actors, operators: list[str]
) -> None:
    """The refusal digest is public once submitted (an executor's sketches are not), so a lazy
    auditor can copy it without looking at the input. A lazy executor refusing a valid input and
    a lazy auditor copying it must not make a 2-of-3 majority that is paid while the honest
    auditor, who revealed "evidence withheld", is slashed: the invalid digest agrees only when
    every revealed digest is it. With no majority the requester is refunded and nobody is paid."""
    client = _client(oracle, oracle_deployment)
    task = _refused(client, actors)
    assert task.auditors is not None
    lazy, honest = task.auditors
    stakes = _stakes(oracle, task)
    credits = {m: oracle.functions.creditOf(m).call() for m in stakes}
    refund_before = oracle.functions.creditOf(actors.requester).call()
    client.commit(task, lazy, INVALID_INPUT_DIGEST)
    client.commit(task, honest, EVIDENCE_WITHHELD_DIGEST)
    openings = [
        client.opening(task, lazy, INVALID_INPUT_DIGEST),
        client.opening(task, honest, EVIDENCE_WITHHELD_DIGEST),
    ]
    receipt = client.open(
        task, make_commitment(1), openings, opening=refusal_opening(task.executor)
    )
    assert not client.event(receipt, "AuditResolved")
    assert client.event(receipt, "AuditFailed")[0]["reason"] == NO_CONSENSUS_REASON
    assert client.event(receipt, "AuditSlashed") == []
    assert _stakes(oracle, task) == stakes
    assert all(oracle.functions.creditOf(m).call() == credits[m] for m in stakes)
    refunded = oracle.functions.creditOf(actors.requester).call() - refund_before
    assert refunded == task.fee
    assert_audited_invariant(oracle, client.contract, _people(actors))


def test_two_copied_refusals_of_four_auditors_are_no_majority_either(
    oracle: Contract, oracle_deployment: Deployment, actors: Actors, operators: list[str]
) -> None:
    """With four auditors, a lazy executor and two lazy auditors copying its refusal (three of
    five) against two honest auditors: still no majority, nobody paid, no honest auditor
    slashed."""
    client = _client(oracle, oracle_deployment)
    task = client.request(actors.requester, auditors=4)
    client.draw(task, actors.outsider)
    fn = client.contract.functions.submitExecution(task.id, INVALID_INPUT_DIGEST, ZERO, ZERO, 0)
    send(fn, task.executor)
    client.draw(task, actors.outsider)
    assert task.auditors is not None and len(task.auditors) == 4
    stakes = _stakes(oracle, task)
    copied, withheld = [INVALID_INPUT_DIGEST] * 2, [EVIDENCE_WITHHELD_DIGEST] * 2
    votes = dict(zip(task.auditors, copied + withheld, strict=True))
    for auditor, digest in votes.items():
        client.commit(task, auditor, digest)
    openings = [client.opening(task, a, d) for a, d in votes.items()]
    receipt = client.open(
        task, make_commitment(1), openings, opening=refusal_opening(task.executor)
    )
    assert client.event(receipt, "AuditFailed")[0]["reason"] == NO_CONSENSUS_REASON
    assert client.event(receipt, "AuditSlashed") == []
    assert _stakes(oracle, task) == stakes
    assert_audited_invariant(oracle, client.contract, _people(actors))
