"""Refunds through a consumer contract: the oracle credits a failed task's fee to the requesting
contract; the example gallery records it for the patron who paid, and only that patron can pull it
(GenerationConsumerBase._claimOracleCredit, ExampleGenerationGallery.withdrawRefund)."""

from __future__ import annotations

from typing import Any

import pytest
from contract_testlib import (
    INPUT,
    MODEL_ID,
    Actors,
    Task,
    as_dict,
    draw,
    events,
    requested,
    required_fee,
    reverts,
    run_task,
    send,
    task_info,
    warp_past,
)
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from deploy.artifacts import load_artifact
from deploy.deployer import CONSUMER_CONTRACT, deploy_contract
from inference.digests import INVALID_INPUT_DIGEST
from oracle.chain.views import FailureReason, TaskStatus

DIGEST = bytes.fromhex("00ff" * 16)


@pytest.fixture
def gallery(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, accounts: list[LocalAccount]
) -> Contract:
    address, _ = deploy_contract(w3c, accounts[0], CONSUMER_CONTRACT, oracle.address, actors.owner)
    return w3c.eth.contract(address=address, abi=load_artifact(CONSUMER_CONTRACT)["abi"])


def _gallery_task(
    oracle: Contract, gallery: Contract, patron: str, fee: int, keeper: str, size: int = 3
) -> Task:
    """A patron's request through the gallery, drawn by `keeper` in the next block."""
    receipt = send(gallery.functions.requestGeneration(MODEL_ID, INPUT, size), patron, fee)
    return draw(oracle, requested(oracle, receipt), keeper)


def _expire(w3: Web3, oracle: Contract, task: Task, resolver: str) -> Any:
    """Nobody commits: past the commit deadline the task is resolvable and expires."""
    warp_past(w3, task.commit_deadline)
    return send(oracle.functions.resolve(task.id), resolver)


def _paid_out(w3: Web3, receipt: Any, before: int, account: str) -> int:
    """What `account` received in the transaction of `receipt`, its gas cost added back."""
    gas_cost = int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])
    return int(w3.eth.get_balance(account)) - before + gas_cost


def test_patron_of_a_failed_task_gets_its_fee_back_and_nobody_else_can_take_it(
    w3c: Web3, oracle: Contract, gallery: Contract, actors: Actors
) -> None:
    alice, bob, keeper = actors.requester, actors.outsider, actors.owner
    callback_gas = gallery.functions.CALLBACK_GAS().call()
    callback_fee = gallery.functions.callbackFee().call()
    config = as_dict(oracle, "config", oracle.functions.config().call())
    assert callback_fee == callback_gas * config["callbackGasPrice"]
    fee = required_fee(oracle, 3, callback_gas)
    alice_fee, bob_fee = fee + 12_345, fee + 10**15  # overpayments are refunded too

    alice_task = _gallery_task(oracle, gallery, alice, alice_fee, keeper)
    bob_task = _gallery_task(oracle, gallery, bob, bob_fee, keeper)
    assert gallery.functions.feeOf(alice_task.id).call() == alice_fee
    assert gallery.functions.feeOf(bob_task.id).call() == bob_fee

    # Alice's task expires; whoever resolves it earns the callback part of the fee.
    receipt = _expire(w3c, oracle, alice_task, keeper)
    assert task_info(oracle, alice_task.id)["status"] == TaskStatus.EXPIRED
    failed = gallery.events.GenerationFailed().process_receipt(receipt, errors=DISCARD)[0]["args"]
    assert (failed["taskId"], failed["reason"]) == (alice_task.id, FailureReason.EXPIRED)
    recorded = gallery.events.RefundRecorded().process_receipt(receipt, errors=DISCARD)[0]["args"]
    assert (recorded["taskId"], recorded["patron"]) == (alice_task.id, alice)
    alice_refund = alice_fee - callback_fee
    assert recorded["amount"] == alice_refund
    assert oracle.functions.creditOf(gallery.address).call() == alice_refund
    assert oracle.functions.creditOf(keeper).call() == callback_fee
    assert gallery.functions.refundOf(alice).call() == alice_refund
    assert gallery.functions.refundOf(bob).call() == 0

    # Bob (his task still open) and the owner cannot take Alice's refund.
    with reverts("NoRefund"):
        send(gallery.functions.withdrawRefund(), bob)
    with reverts("NoRefund"):
        send(gallery.functions.withdrawRefund(), actors.owner)
    assert "collectRefunds" not in {f["name"] for f in gallery.abi if f["type"] == "function"}

    # Bob's task fails too, with a larger fee: the gallery owes both, each exactly their own.
    _expire(w3c, oracle, bob_task, keeper)
    bob_refund = bob_fee - callback_fee
    assert gallery.functions.refundOf(bob).call() == bob_refund
    assert oracle.functions.creditOf(gallery.address).call() == alice_refund + bob_refund

    # Alice withdraws: the gallery claims its whole credit from the oracle, pays her her share.
    before = w3c.eth.get_balance(alice)
    receipt = send(gallery.functions.withdrawRefund(), alice)
    assert _paid_out(w3c, receipt, before, alice) == alice_refund
    withdrawn = gallery.events.RefundWithdrawn().process_receipt(receipt, errors=DISCARD)[0]["args"]
    assert (withdrawn["patron"], withdrawn["amount"]) == (alice, alice_refund)
    assert oracle.functions.creditOf(gallery.address).call() == 0
    assert w3c.eth.get_balance(gallery.address) == bob_refund  # held for Bob
    assert gallery.functions.refundOf(alice).call() == 0
    with reverts("NoRefund"):
        send(gallery.functions.withdrawRefund(), alice)

    # Bob gets exactly his, from the gallery's balance; nothing is left for anyone else.
    before = w3c.eth.get_balance(bob)
    receipt = send(gallery.functions.withdrawRefund(), bob)
    assert _paid_out(w3c, receipt, before, bob) == bob_refund
    assert w3c.eth.get_balance(gallery.address) == 0


def test_verified_and_invalid_input_tasks_refund_nothing(
    w3c: Web3, oracle: Contract, gallery: Contract, actors: Actors
) -> None:
    patron, keeper = actors.requester, actors.owner
    fee = required_fee(oracle, 3, gallery.functions.CALLBACK_GAS().call())

    verified = _gallery_task(oracle, gallery, patron, fee, keeper)
    run_task(w3c, oracle, verified, [DIGEST] * 3)
    assert _entry(gallery, verified.id)["status"] == 2  # Verified

    invalid = _gallery_task(oracle, gallery, patron, fee, keeper)
    receipt = run_task(w3c, oracle, invalid, [INVALID_INPUT_DIGEST] * 3)
    assert task_info(oracle, invalid.id)["status"] == TaskStatus.RESOLVED  # the verifiers were paid
    assert events(oracle, receipt, "CallbackCompleted")[0]["success"]
    entry = _entry(gallery, invalid.id)
    assert (entry["status"], entry["failureReason"]) == (3, FailureReason.INVALID_INPUT)
    assert gallery.events.RefundRecorded().process_receipt(receipt, errors=DISCARD) == ()

    assert gallery.functions.refundOf(patron).call() == 0
    assert oracle.functions.creditOf(gallery.address).call() == 0
    with reverts("NoRefund"):
        send(gallery.functions.withdrawRefund(), patron)


def test_gallery_rejects_a_committee_smaller_than_three(
    oracle: Contract, gallery: Contract, actors: Actors
) -> None:
    assert gallery.functions.MIN_COMMITTEE_SIZE().call() == 3
    fee = required_fee(oracle, 3, gallery.functions.CALLBACK_GAS().call())
    for size in (0, 1, 2):
        with reverts("CommitteeTooSmall"):
            send(gallery.functions.requestGeneration(MODEL_ID, INPUT, size), actors.requester, fee)


def test_consumer_accepts_ether_from_the_oracle_only(
    w3c: Web3, gallery: Contract, actors: Actors
) -> None:
    with reverts("OnlyOracle"):
        w3c.eth.call({"from": actors.outsider, "to": gallery.address, "value": 1})
    assert w3c.eth.get_balance(gallery.address) == 0


def _entry(gallery: Contract, task_id: int) -> dict[str, Any]:
    """The example gallery's entry of a task, by field name."""
    return as_dict(gallery, "entry", gallery.functions.entry(task_id).call())
