"""A dApp built on GenerationConsumerBase uses the audited mode as it uses the replicated one: the
example gallery requests an audited task, AuditedTasks calls it back, a rejected task's fee is
refunded to the patron who paid. The callbacks accept the oracle's attached AuditedTasks and the
oracle only: an outsider, or another AuditedTasks that was never attached, is refused."""

from __future__ import annotations

import pytest
from contract_testlib import (
    INPUT,
    MODEL_ID,
    Actors,
    AuditedClient,
    AuditedTask,
    assert_audited_invariant,
    audited_digest,
    make_commitment,
    reverts,
    send,
    warp_past,
)
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from deploy.artifacts import load_artifact
from deploy.deployer import CONSUMER_CONTRACT, Deployment, audited_at, deploy_contract
from oracle.chain.views import FailureReason

RESULT = bytes.fromhex("cd" * 32)
VERIFIED, FAILED = 2, 3


@pytest.fixture
def client(oracle_deployment: Deployment, oracle: Contract) -> AuditedClient:
    assert oracle_deployment.audited is not None
    return AuditedClient(audited_at(oracle.w3, oracle_deployment.audited))


@pytest.fixture
def gallery(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, accounts: list[LocalAccount]
) -> Contract:
    address, _ = deploy_contract(w3c, accounts[0], CONSUMER_CONTRACT, oracle.address, actors.owner)
    return w3c.eth.contract(address=address, abi=load_artifact(CONSUMER_CONTRACT)["abi"])


def _people(actors: Actors, gallery: Contract) -> list[str]:
    return [*actors.operators, actors.requester, actors.outsider, actors.owner, gallery.address]


def _request(client: AuditedClient, gallery: Contract, patron: str, keeper: str) -> AuditedTask:
    callback_gas = gallery.functions.CALLBACK_GAS().call()
    fee = client.required_fee(2, callback_gas)
    receipt = send(gallery.functions.requestAuditedGeneration(MODEL_ID, INPUT, 2), patron, fee)
    event = client.event(receipt, "AuditTaskRequested")[0]
    assert event["requester"] == gallery.address
    return client.draw(AuditedTask(id=event["taskId"], fee=fee, receipt=receipt), keeper)


def test_the_gallery_gets_an_audited_result_through_its_callback(
    oracle: Contract, client: AuditedClient, gallery: Contract, actors: Actors
) -> None:
    task = _request(client, gallery, actors.requester, actors.outsider)
    assert task.id >= client.contract.functions.TASK_ID_OFFSET().call()
    entry = gallery.functions.entry(task.id).call()
    assert (entry[0], entry[1], entry[4], entry[5]) == (actors.requester, 1, MODEL_ID, INPUT)

    honest = make_commitment(20)
    client.submit(task, RESULT, honest)
    client.draw(task, actors.outsider)
    assert task.auditors is not None
    digest = audited_digest(list(honest.sketches), client.challenge(task, 20))
    for auditor in task.auditors:
        client.commit(task, auditor, digest)
    receipt = client.open(task, honest, [client.opening(task, a, digest) for a in task.auditors])

    assert client.event(receipt, "AuditCallbackCompleted")[0]["success"] is True
    verified = gallery.events.GenerationVerified().process_receipt(receipt, errors=DISCARD)
    assert (verified[0]["args"]["taskId"], verified[0]["args"]["digest"]) == (task.id, RESULT)
    entry = gallery.functions.entry(task.id).call()
    assert (entry[1], entry[3]) == (VERIFIED, RESULT)
    assert_audited_invariant(oracle, client.contract, _people(actors, gallery))


def test_a_rejected_audited_task_refunds_the_patron_through_the_gallery(
    w3c: Web3, oracle: Contract, client: AuditedClient, gallery: Contract, actors: Actors
) -> None:
    """The executor never submits: the task expires, the gallery records the refund for the
    patron (the fee less the callback part), and only that patron can pull it."""
    task = _request(client, gallery, actors.requester, actors.outsider)
    warp_past(w3c, client.info(task.id)["deadline"])
    receipt = send(client.contract.functions.resolveAudit(task.id), actors.owner)

    failed = gallery.events.GenerationFailed().process_receipt(receipt, errors=DISCARD)[0]["args"]
    assert (failed["taskId"], failed["reason"]) == (task.id, FailureReason.EXPIRED)
    refund = task.fee - gallery.functions.callbackFee().call()
    assert gallery.functions.refundOf(actors.requester).call() == refund
    assert gallery.functions.entry(task.id).call()[1] == FAILED
    with reverts("NoRefund"):
        send(gallery.functions.withdrawRefund(), actors.outsider)
    before = w3c.eth.get_balance(actors.requester)
    receipt = send(gallery.functions.withdrawRefund(), actors.requester)
    gas_cost = int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])
    assert w3c.eth.get_balance(actors.requester) - before + gas_cost == refund
    assert_audited_invariant(oracle, client.contract, _people(actors, gallery))


def test_only_the_oracle_and_its_attached_audited_tasks_may_call_back(
    w3c: Web3,
    oracle: Contract,
    client: AuditedClient,
    gallery: Contract,
    actors: Actors,
    accounts: list[LocalAccount],
) -> None:
    """An outsider, and a second AuditedTasks deployed against the same oracle but never attached
    (anyone can deploy one), cannot mark a pending entry verified."""
    task = _request(client, gallery, actors.requester, actors.outsider)
    with reverts("OnlyOracle"):
        send(gallery.functions.onGenerationVerified(task.id, RESULT), actors.outsider)
    rogue, _ = deploy_contract(w3c, accounts[0], "AuditedTasks", oracle.address)
    forged = gallery.functions.onGenerationVerified(task.id, RESULT)
    with reverts("OnlyOracle"):
        w3c.eth.call(
            {"from": rogue, "to": gallery.address, "data": forged._encode_transaction_data()}
        )
    with reverts("OnlyOracle"):
        send(gallery.functions.onGenerationFailed(task.id, 1), actors.outsider)
    # Ether from anyone but the oracle itself is refused (AuditedTasks never pays a requester).
    with reverts("OnlyOracle"):
        w3c.eth.call({"from": client.contract.address, "to": gallery.address, "value": 1})
    assert gallery.functions.entry(task.id).call()[1] == 1
