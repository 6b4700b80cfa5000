"""Attacks (copied commits, replayed commits, hostile consumers) and the consumer contracts."""

from __future__ import annotations

from typing import Any

import pytest
from contract_testlib import (
    INPUT,
    MODEL_ID,
    USE_DEFAULT,
    Actors,
    Task,
    as_dict,
    commit_all,
    commitment,
    draw,
    events,
    register_model,
    request,
    requested,
    required_fee,
    reveal,
    reverts,
    run_task,
    salt_for,
    send,
    task_info,
)
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from deploy.artifacts import load_artifact
from deploy.deployer import CONSUMER_CONTRACT, deploy_contract
from inference.digests import INVALID_INPUT_DIGEST
from oracle.chain.views import FailureReason, TaskStatus

BASE = bytes.fromhex("00ff" * 16)
#: A digest far (per lane) from BASE and from 0xff00..: three members, three answers.
THIRD_DIGEST = bytes.fromhex("0f0f" * 16)
#: The example gallery's callback gas (its CALLBACK_GAS).
GALLERY_CALLBACK_GAS = 100_000


def test_copied_commitment_cannot_be_revealed_by_the_copier(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    task = request(oracle, actors.requester, size=3)
    honest, copier, other = task.committee
    honest_commitment = commitment(w3c, oracle, task.id, honest, BASE, salt_for(task.id, honest))
    send(oracle.functions.commit(task.id, honest_commitment), honest)
    send(oracle.functions.commit(task.id, honest_commitment), copier)  # copied from the mempool
    commit_all(w3c, oracle, task, {other: BASE}, [other])
    with reverts("CommitmentMismatch"):  # even with the honest member's digest and salt
        send(oracle.functions.reveal(task.id, BASE, salt_for(task.id, honest)), copier)


def test_commitment_cannot_be_replayed_on_another_task(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    first = request(oracle, actors.requester, size=7)
    second = request(oracle, actors.requester, size=7)
    member = first.committee[0]
    old = commitment(w3c, oracle, first.id, member, BASE, salt_for(first.id, member))
    send(oracle.functions.commit(second.id, old), member)
    others = [m for m in second.committee if m != member]
    commit_all(w3c, oracle, second, dict.fromkeys(others, BASE), others)
    with reverts("CommitmentMismatch"):
        send(oracle.functions.reveal(second.id, BASE, salt_for(first.id, member)), member)


def _consumer(w3: Web3, accounts: list[LocalAccount], oracle: Contract, name: str) -> Contract:
    address, _ = deploy_contract(w3, accounts[0], name, oracle.address)
    return w3.eth.contract(address=address, abi=load_artifact(name)["abi"])


def _requested_task(oracle: Contract, receipt: Any, keeper: str) -> Task:
    """The task a consumer's request transaction opened, drawn by `keeper` in the next block."""
    return draw(oracle, requested(oracle, receipt), keeper)


def _consumer_task(w3: Web3, oracle: Contract, consumer: Contract, requester: str, gas: int) -> Any:
    receipt = send(
        consumer.functions.request(MODEL_ID, INPUT, 3, USE_DEFAULT, gas),
        requester,
        required_fee(oracle, 3, gas),
    )
    return _requested_task(oracle, receipt, requester)


@pytest.mark.parametrize("name", ["RevertingConsumer", "GasBurningConsumer", "ReenteringConsumer"])
def test_hostile_consumer_cannot_block_resolution_or_payouts(
    w3c: Web3,
    oracle: Contract,
    operators: list[str],
    actors: Actors,
    accounts: list[LocalAccount],
    name: str,
) -> None:
    consumer = _consumer(w3c, accounts, oracle, name)
    task = _consumer_task(w3c, oracle, consumer, actors.requester, 300_000)
    receipt = run_task(w3c, oracle, task, [BASE] * 3)
    assert events(oracle, receipt, "CallbackCompleted")[0]["success"] is False
    assert task_info(oracle, task.id)["status"] == TaskStatus.RESOLVED
    member_fee = task.fee - 300_000 * 10**9  # the callback part goes to the resolver
    for member in task.committee[:2]:
        assert oracle.functions.creditOf(member).call() == member_fee // 3
    resolver = task.committee[2]
    assert oracle.functions.creditOf(resolver).call() == member_fee // 3 + 300_000 * 10**9
    if name == "GasBurningConsumer":
        assert receipt["gasUsed"] < 300_000 + 150_000  # bounded by the requested callback gas
    if name == "ReenteringConsumer":
        assert consumer.functions.reentered().call() is False


def test_consumer_gets_the_digest_with_exactly_the_requested_gas(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, accounts: list[LocalAccount]
) -> None:
    consumer = _consumer(w3c, accounts, oracle, "RecordingConsumer")
    task = _consumer_task(w3c, oracle, consumer, actors.requester, 200_000)
    receipt = run_task(w3c, oracle, task, [BASE] * 3)
    assert events(oracle, receipt, "CallbackCompleted")[0]["success"] is True
    assert consumer.functions.lastDigest().call() == BASE
    assert consumer.functions.lastTaskId().call() == task.id
    assert 200_000 - 1_000 < consumer.functions.gasAtEntry().call() <= 200_000
    # Too little gas for the promised callback: the reveal reverts instead of starving it.
    task = _consumer_task(w3c, oracle, consumer, actors.requester, 200_000)
    digests = dict.fromkeys(task.committee, BASE)
    commit_all(w3c, oracle, task, digests, task.committee)
    for member in task.committee[:2]:
        reveal(w3c, oracle, task, member, BASE)
    last = task.committee[2]
    with reverts("InsufficientGasForCallback"):
        oracle.functions.reveal(task.id, BASE, salt_for(task.id, last)).call(
            {"from": last, "gas": 150_000}
        )


def test_failed_and_invalid_input_tasks_call_on_generation_failed(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, accounts: list[LocalAccount]
) -> None:
    consumer = _consumer(w3c, accounts, oracle, "RecordingConsumer")
    task = _consumer_task(w3c, oracle, consumer, actors.requester, 100_000)
    run_task(w3c, oracle, task, [INVALID_INPUT_DIGEST] * 3)
    assert consumer.functions.lastReason().call() == FailureReason.INVALID_INPUT
    task = _consumer_task(w3c, oracle, consumer, actors.requester, 100_000)
    far = [BASE, bytes.fromhex("ff00" * 16), bytes.fromhex("0f0f" * 16)]
    run_task(w3c, oracle, task, far)
    assert consumer.functions.lastReason().call() == FailureReason.NO_CONSENSUS
    # The members' part of the fee is refunded; the callback part paid the resolver's gas.
    refund = task.fee - 100_000 * 10**9
    assert oracle.functions.creditOf(consumer.address).call() == refund
    send(consumer.functions.claimRefund(), actors.outsider)
    assert w3c.eth.get_balance(consumer.address) == refund


def test_eoa_requester_gets_no_callback(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    task = request(oracle, actors.requester, size=3, callback_gas=100_000)
    receipt = run_task(w3c, oracle, task, [BASE] * 3)
    assert events(oracle, receipt, "CallbackCompleted") == []
    assert task_info(oracle, task.id)["status"] == TaskStatus.RESOLVED


def test_example_gallery_serves_an_image_and_a_text_model(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, accounts: list[LocalAccount]
) -> None:
    with reverts("OracleNotContract"):
        deploy_contract(w3c, accounts[0], CONSUMER_CONTRACT, actors.outsider, actors.owner)
    address, _ = deploy_contract(w3c, accounts[0], CONSUMER_CONTRACT, oracle.address, actors.owner)
    gallery = w3c.eth.contract(address=address, abi=load_artifact(CONSUMER_CONTRACT)["abi"])
    fee = required_fee(oracle, 3, GALLERY_CALLBACK_GAS)
    refund = fee - GALLERY_CALLBACK_GAS * 10**9  # what a failed task gives back
    text_model = Web3.keccak(text="test-text-model")
    register_model(oracle, actors.owner, text_model, 1, "sha256-tokens", 0, 0, "ipfs://text-model")
    for operator in operators:
        send(oracle.functions.serveModel(text_model), operator)
    with reverts("NoFee"):
        send(gallery.functions.requestGeneration(MODEL_ID, INPUT, 3), actors.requester)
    with reverts("CommitteeTooSmall"):
        send(gallery.functions.requestGeneration(MODEL_ID, INPUT, 1), actors.requester, fee)
    with reverts("UnknownModel"):
        send(gallery.functions.requestGeneration(b"\x07" * 32, INPUT, 3), actors.requester, fee)

    # An image at the image model's default tolerance: verified, the digest stored.
    receipt = send(gallery.functions.requestGeneration(MODEL_ID, INPUT, 3), actors.requester, fee)
    request_event = gallery.events.GenerationRequested().process_receipt(receipt, errors=DISCARD)[
        0
    ]["args"]
    image_task = _requested_task(oracle, receipt, actors.outsider)
    assert request_event["taskId"] == image_task.id
    assert request_event["patron"] == actors.requester and request_event["modelId"] == MODEL_ID
    assert task_info(oracle, image_task.id)["tolerance"] == 0x08000000
    entry = gallery.functions.entry(image_task.id).call()
    assert entry == (actors.requester, 1, 0, b"\x00" * 32, MODEL_ID, INPUT)  # Pending
    receipt = run_task(w3c, oracle, image_task, [BASE] * 3)
    verified = gallery.events.GenerationVerified().process_receipt(receipt, errors=DISCARD)[0][
        "args"
    ]
    assert verified["taskId"] == image_task.id and verified["digest"] == BASE
    entry = gallery.functions.entry(image_task.id).call()
    assert entry == (actors.requester, 2, 0, BASE, MODEL_ID, INPUT)  # Verified

    # A completion from the text model (exact tolerance) that the committee disagrees on: the
    # entry fails with NoConsensus and the refunded fee reaches the owner.
    prompt = b'{"prompt":"Once upon a time","max_new_tokens":16}'
    receipt = send(gallery.functions.requestGeneration(text_model, prompt, 3), actors.outsider, fee)
    text_task = _requested_task(oracle, receipt, actors.outsider)
    assert task_info(oracle, text_task.id)["tolerance"] == 0
    receipt = run_task(w3c, oracle, text_task, [BASE, bytes.fromhex("ff00" * 16), THIRD_DIGEST])
    failed = gallery.events.GenerationFailed().process_receipt(receipt, errors=DISCARD)[0]["args"]
    assert failed["taskId"] == text_task.id and failed["reason"] == FailureReason.NO_CONSENSUS
    entry = gallery.functions.entry(text_task.id).call()
    assert entry == (actors.outsider, 3, 1, b"\x00" * 32, text_model, prompt)  # Failed
    assert as_dict(gallery, "entry", gallery.functions.entry(999).call())["status"] == 0  # None

    # The failed task's patron (not the owner) gets its fee back, less the callback part.
    assert gallery.functions.feeOf(text_task.id).call() == fee
    assert gallery.functions.refundOf(actors.outsider).call() == refund
    assert gallery.functions.callbackFee().call() == fee - refund
    with reverts("NoRefund"):
        send(gallery.functions.withdrawRefund(), actors.owner)
    patron_before = w3c.eth.get_balance(actors.outsider)
    receipt = send(gallery.functions.withdrawRefund(), actors.outsider)
    withdrawn = gallery.events.RefundWithdrawn().process_receipt(receipt, errors=DISCARD)[0]["args"]
    assert withdrawn["patron"] == actors.outsider and withdrawn["amount"] == refund
    gas_cost = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert w3c.eth.get_balance(actors.outsider) == patron_before + refund - gas_cost
    assert gallery.functions.refundOf(actors.outsider).call() == 0
    with reverts("OnlyOracle"):
        send(gallery.functions.onGenerationVerified(image_task.id, BASE), actors.outsider)
    with reverts("OnlyOracle"):
        send(gallery.functions.onGenerationFailed(image_task.id, 1), actors.outsider)
