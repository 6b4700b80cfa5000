"""The audited mode's tolerance is the model's audit tolerance, set by the registry owner: the
compared digests are step sketches, which honest noise moves by other amounts than result
digests. A requester may ask for more, never less; a model without one cannot be audited. The
attack: a requester who picks the tightest tolerance it can, to get an honest executor on other
hardware outvoted. Balance invariant after each."""

from __future__ import annotations

from contract_testlib import (
    MODEL_ID,
    Actors,
    AuditedClient,
    assert_audited_invariant,
    audited_digest,
    make_commitment,
    register_model,
    registry,
    reverts,
    send,
    stake_of,
    tolerance,
)
from web3 import Web3
from web3.contract import Contract

from deploy.deployer import Deployment, audited_at
from oracle.chain.audited import paid_members

RESULT = bytes.fromhex("ef" * 32)
AUDIT_TOLERANCE = tolerance(16, 16, 16, 16)
RESOLVED = 4


def _client(oracle: Contract, deployment: Deployment) -> AuditedClient:
    assert deployment.audited is not None
    return AuditedClient(audited_at(oracle.w3, deployment.audited))


def _people(actors: Actors) -> list[str]:
    return [*actors.operators, actors.requester, actors.outsider, actors.owner]


def _flip(digest: bytes, lane: int, bits: list[int]) -> bytes:
    """`digest` with bit positions `bits` of 64-bit lane `lane` flipped."""
    value = int.from_bytes(digest, "big")
    for bit in bits:
        value ^= 1 << (64 * (3 - lane) + bit)
    return value.to_bytes(32, "big")


def test_only_the_registry_owner_sets_a_registered_models_audit_tolerance(
    oracle: Contract, actors: Actors, operators: list[str]
) -> None:
    models = registry(oracle)
    assert models.functions.auditToleranceOf(MODEL_ID).call() == tolerance(8, 0, 0, 0)
    with reverts("OwnableUnauthorizedAccount"):
        send(models.functions.setAuditTolerance(MODEL_ID, AUDIT_TOLERANCE), actors.outsider)
    with reverts("UnknownModel"):
        send(models.functions.setAuditTolerance(b"\1" * 32, AUDIT_TOLERANCE), actors.owner)
    with reverts("InvalidTolerance"):
        send(models.functions.setAuditTolerance(MODEL_ID, tolerance(65, 0, 0, 0)), actors.owner)
    receipt = send(models.functions.setAuditTolerance(MODEL_ID, AUDIT_TOLERANCE), actors.owner)
    (event,) = models.events.AuditToleranceSet().process_receipt(receipt)
    assert (event["args"]["modelId"], event["args"]["tolerance"]) == (MODEL_ID, AUDIT_TOLERANCE)
    assert models.functions.auditToleranceOf(MODEL_ID).call() == AUDIT_TOLERANCE


def test_requests_get_the_audit_tolerance_or_more_never_less(
    oracle: Contract, oracle_deployment: Deployment, actors: Actors, operators: list[str]
) -> None:
    client = _client(oracle, oracle_deployment)
    send(registry(oracle).functions.setAuditTolerance(MODEL_ID, AUDIT_TOLERANCE), actors.owner)
    task = client.request(actors.requester)
    assert client.info(task.id)["tolerance"] == AUDIT_TOLERANCE
    looser = tolerance(20, 16, 16, 30)
    assert client.info(client.request(actors.requester, tol=looser).id)["tolerance"] == looser
    # The model's replicated floor (8/0/0/0) is below the audit tolerance: refused.
    with reverts("ToleranceBelowFloor"):
        client.request(actors.requester, tol=tolerance(8, 0, 0, 0))
    with reverts("ToleranceBelowFloor"):
        client.request(actors.requester, tol=tolerance(16, 16, 15, 16))
    with reverts("InvalidTolerance"):
        client.request(actors.requester, tol=tolerance(16, 16, 16, 65))
    # Tasks keep their tolerance when the owner changes the model's.
    send(
        registry(oracle).functions.setAuditTolerance(MODEL_ID, tolerance(4, 4, 4, 4)), actors.owner
    )
    assert client.info(task.id)["tolerance"] == AUDIT_TOLERANCE
    assert_audited_invariant(oracle, client.contract, _people(actors))


def test_a_model_without_an_audit_tolerance_cannot_be_audited(
    oracle: Contract, oracle_deployment: Deployment, actors: Actors, operators: list[str]
) -> None:
    client = _client(oracle, oracle_deployment)
    other = Web3.keccak(text="replicated-only")
    register_model(oracle, actors.owner, other, audit_tolerance=0)
    assert registry(oracle).functions.auditToleranceOf(other).call() == 0
    with reverts("ModelNotAuditable"):
        client.request(actors.requester, model=other)
    send(registry(oracle).functions.setAuditTolerance(MODEL_ID, 0), actors.owner)
    with reverts("ModelNotAuditable"):
        client.request(actors.requester)


def test_the_tightest_tolerance_a_requester_can_ask_still_accepts_honest_noise(
    oracle: Contract, oracle_deployment: Deployment, actors: Actors, operators: list[str]
) -> None:
    """An honest executor on other hardware: each auditor's recomputation differs from it by the
    audit tolerance in every lane (and by twice that from each other). At the tightest tolerance
    the requester can ask for (the audit tolerance itself) the executor is verified and nobody
    is slashed; a tighter one, which would have outvoted it, cannot be asked for."""
    client = _client(oracle, oracle_deployment)
    send(registry(oracle).functions.setAuditTolerance(MODEL_ID, AUDIT_TOLERANCE), actors.owner)
    with reverts("ToleranceBelowFloor"):
        client.request(actors.requester, tol=tolerance(15, 15, 15, 15))
    task = client.request(actors.requester, tol=AUDIT_TOLERANCE)
    task = client.draw(task, actors.outsider)
    executor_sketches = make_commitment(20)
    client.submit(task, RESULT, executor_sketches)
    task = client.draw(task, actors.outsider)
    assert task.auditors is not None
    executor_digest = audited_digest(list(executor_sketches.sketches), client.challenge(task, 20))
    near, far = executor_digest, executor_digest
    for lane in range(4):
        near = _flip(near, lane, list(range(16)))
        far = _flip(far, lane, list(range(16, 32)))
    members = [task.executor, *task.auditors]
    stakes = {m: stake_of(oracle, m) for m in members}
    client.commit(task, task.auditors[0], near)
    client.commit(task, task.auditors[1], far)
    openings = [
        client.opening(task, task.auditors[0], near),
        client.opening(task, task.auditors[1], far),
    ]
    receipt = client.open(task, executor_sketches, openings)
    resolved = client.event(receipt, "AuditResolved")[0]
    assert resolved["digest"] == RESULT and paid_members(resolved["paidMask"], members) == members
    assert client.event(receipt, "AuditSlashed") == []
    assert client.status(task) == RESOLVED
    assert {m: stake_of(oracle, m) for m in members} == stakes
    assert_audited_invariant(oracle, client.contract, _people(actors))
