"""Attacks (copied commits, replayed commits, hostile consumers) and the consumer contracts."""

from __future__ import annotations

from typing import Any

import pytest
from contract_testlib import (
    INPUT,
    INVALID_INPUT_DIGEST,
    MODEL_ID,
    USE_DEFAULT,
    Actors,
    Status,
    commit_all,
    commitment,
    events,
    request,
    reveal,
    reverts,
    run_task,
    salt_for,
    send,
)
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from deploy.deployer import deploy_contract

BASE = bytes.fromhex("00ff" * 16)


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
    from deploy.artifacts import load_artifact

    address, _ = deploy_contract(w3, accounts[0], name, oracle.address)
    return w3.eth.contract(address=address, abi=load_artifact(name)["abi"])


def _consumer_task(w3: Web3, oracle: Contract, consumer: Contract, requester: str, gas: int) -> Any:
    receipt = send(
        consumer.functions.request(MODEL_ID, INPUT, 3, USE_DEFAULT, gas), requester, 3 * 10**15
    )
    event = oracle.events.TaskRequested().process_receipt(receipt)[0]["args"]
    from contract_testlib import Task

    return Task(
        event["taskId"],
        list(event["committee"]),
        event["fee"],
        event["entropy"],
        event["commitDeadline"],
        event["revealDeadline"],
        receipt,
    )


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
    assert oracle.functions.getTask(task.id).call()[2] == Status.RESOLVED
    for member in task.committee:
        assert oracle.functions.creditOf(member).call() == task.fee // 3
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
    assert consumer.functions.lastReason().call() == 3  # InvalidInput
    task = _consumer_task(w3c, oracle, consumer, actors.requester, 100_000)
    far = [BASE, bytes.fromhex("ff00" * 16), bytes.fromhex("0f0f" * 16)]
    run_task(w3c, oracle, task, far)
    assert consumer.functions.lastReason().call() == 1  # NoConsensus
    assert oracle.functions.creditOf(consumer.address).call() == task.fee
    send(consumer.functions.claimRefund(), actors.outsider)
    assert w3c.eth.get_balance(consumer.address) == task.fee


def test_eoa_requester_gets_no_callback(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    task = request(oracle, actors.requester, size=3, callback_gas=100_000)
    receipt = run_task(w3c, oracle, task, [BASE] * 3)
    assert events(oracle, receipt, "CallbackCompleted") == []
    assert oracle.functions.getTask(task.id).call()[2] == Status.RESOLVED


def test_example_gallery_flow(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, accounts: list[LocalAccount]
) -> None:
    from deploy.artifacts import load_artifact

    with reverts("OracleNotContract"):
        deploy_contract(
            w3c, accounts[0], "ExampleImageGallery", actors.outsider, MODEL_ID, actors.owner
        )
    address, _ = deploy_contract(
        w3c, accounts[0], "ExampleImageGallery", oracle.address, MODEL_ID, actors.owner
    )
    gallery = w3c.eth.contract(address=address, abi=load_artifact("ExampleImageGallery")["abi"])
    with reverts("NoFee"):
        send(gallery.functions.requestPicture(INPUT, 3), actors.requester)
    receipt = send(gallery.functions.requestPicture(INPUT, 3), actors.requester, 3 * 10**15)
    task_id = gallery.events.PictureRequested().process_receipt(receipt)[0]["args"]["taskId"]
    event = oracle.events.TaskRequested().process_receipt(receipt)[0]["args"]
    from contract_testlib import Task

    task = Task(
        task_id,
        list(event["committee"]),
        event["fee"],
        event["entropy"],
        event["commitDeadline"],
        event["revealDeadline"],
        receipt,
    )
    receipt = run_task(w3c, oracle, task, [BASE] * 3)
    verified = gallery.events.PictureVerified().process_receipt(receipt)[0]["args"]
    assert verified["digest"] == BASE
    entry = gallery.functions.entry(task_id).call()
    assert entry[0] == actors.requester and entry[1] == 2 and entry[3] == BASE and entry[4] == INPUT
    with reverts("OnlyOracle"):
        send(gallery.functions.onGenerationVerified(task_id, BASE), actors.outsider)
    with reverts("OnlyOracle"):
        send(gallery.functions.onGenerationFailed(task_id, 1), actors.outsider)
