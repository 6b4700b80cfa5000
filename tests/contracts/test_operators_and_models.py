"""Operator and model-registry functions: happy paths and every revert, by custom error name."""

from __future__ import annotations

from dataclasses import replace

import pytest
from contract_testlib import (
    ETHER,
    MODEL_ID,
    Actors,
    events,
    request,
    reverts,
    rpc,
    run_task,
    send,
    warp_past,
)
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from deploy.deployer import OracleConfig, deploy_oracle


def test_register_and_views(w3c: Web3, oracle: Contract, actors: Actors) -> None:
    op = actors.operators[0]
    receipt = send(oracle.functions.register("http://node.test"), op, 2 * ETHER)
    event = events(oracle, receipt, "OperatorRegistered")[0]
    assert (event["operator"], event["endpoint"], event["stake"]) == (
        op,
        "http://node.test",
        2 * ETHER,
    )
    assert oracle.functions.getOperator(op).call() == (
        2 * ETHER,
        "http://node.test",
        True,
        False,
        0,
        0,
        False,
    )
    assert oracle.functions.operatorIndex(op).call() == 1
    assert oracle.functions.operatorAt(1).call() == [op, 2 * 10**9]
    assert oracle.functions.operatorCount().call() == 1
    assert oracle.functions.eligibleOperatorCount().call() == 1
    assert oracle.functions.totalWeight().call() == 2 * 10**9


def test_register_reverts(w3c: Web3, oracle: Contract, actors: Actors) -> None:
    op = actors.operators[0]
    with reverts("StakeTooLow"):
        send(oracle.functions.register("http://node.test"), op, ETHER - 1)
    with reverts("InvalidEndpoint"):
        send(oracle.functions.register(""), op, ETHER)
    with reverts("InvalidEndpoint"):
        send(oracle.functions.register("x" * 257), op, ETHER)
    send(oracle.functions.register("http://node.test"), op, ETHER)
    with reverts("AlreadyRegistered"):
        send(oracle.functions.register("http://node.test"), op, ETHER)


def test_add_stake_and_set_endpoint(w3c: Web3, oracle: Contract, actors: Actors) -> None:
    op = actors.operators[0]
    with reverts("NotRegistered"):
        send(oracle.functions.addStake(), op, ETHER)
    with reverts("NotRegistered"):
        send(oracle.functions.setEndpoint("http://x"), op)
    send(oracle.functions.register("http://a"), op, ETHER)
    with reverts("ZeroAmount"):
        send(oracle.functions.addStake(), op, 0)
    receipt = send(oracle.functions.addStake(), op, ETHER)
    assert events(oracle, receipt, "StakeAdded")[0]["newStake"] == 2 * ETHER
    assert oracle.functions.totalWeight().call() == 2 * 10**9
    with reverts("InvalidEndpoint"):
        send(oracle.functions.setEndpoint(""), op)
    receipt = send(oracle.functions.setEndpoint("http://b"), op)
    assert events(oracle, receipt, "EndpointUpdated")[0]["endpoint"] == "http://b"
    assert oracle.functions.getOperator(op).call()[1] == "http://b"
    send(oracle.functions.requestExit(), op)
    with reverts("OperatorExiting"):
        send(oracle.functions.addStake(), op, ETHER)


def test_exit_and_withdraw(w3c: Web3, oracle: Contract, actors: Actors) -> None:
    op = actors.operators[0]
    with reverts("NotRegistered"):
        send(oracle.functions.requestExit(), op)
    with reverts("NotRegistered"):
        send(oracle.functions.withdrawStake(), op)
    send(oracle.functions.register("http://a"), op, 3 * ETHER)
    with reverts("NotExiting"):
        send(oracle.functions.withdrawStake(), op)
    receipt = send(oracle.functions.requestExit(), op)
    withdrawable_at = events(oracle, receipt, "ExitRequested")[0]["withdrawableAt"]
    assert oracle.functions.eligibleOperatorCount().call() == 0
    assert oracle.functions.getOperator(op).call()[2:5] == (False, True, withdrawable_at)
    with reverts("OperatorExiting"):
        send(oracle.functions.requestExit(), op)
    with reverts("UnbondingNotOver"):
        send(oracle.functions.withdrawStake(), op)
    warp_past(w3c, withdrawable_at - 1)
    before = w3c.eth.get_balance(op)
    receipt = send(oracle.functions.withdrawStake(), op)
    assert events(oracle, receipt, "StakeWithdrawn")[0]["amount"] == 3 * ETHER
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert w3c.eth.get_balance(op) == before + 3 * ETHER - fee
    assert oracle.functions.getOperator(op).call()[0] == 0
    # A withdrawn operator may come back under its old index.
    send(oracle.functions.register("http://again"), op, ETHER)
    assert oracle.functions.operatorIndex(op).call() == 1
    assert oracle.functions.operatorCount().call() == 1


def test_exit_and_withdraw_are_refused_while_assigned(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    task = request(oracle, actors.requester, size=3)
    member = task.committee[0]
    with reverts("OpenAssignments"):
        send(oracle.functions.requestExit(), member)
    # The way out for a busy operator: pause (no new draws), let the open task end, then exit.
    receipt = send(oracle.functions.pauseAssignments(), member)
    assert events(oracle, receipt, "AssignmentsPaused")[0]["operator"] == member
    for _ in range(5):
        assert member not in request(oracle, actors.requester, size=3).committee
    open_tasks = oracle.functions.getOperator(member).call()[5]
    assert open_tasks == 1
    with reverts("OpenAssignments"):
        send(oracle.functions.requestExit(), member)
    with reverts("NotExiting"):  # so the stake cannot leave while it answers for the task
        send(oracle.functions.withdrawStake(), member)
    warp_past(w3c, task.reveal_deadline)
    send(oracle.functions.resolve(task.id), actors.outsider)  # expired, member slashed
    assert oracle.functions.getOperator(member).call()[5] == 0
    receipt = send(oracle.functions.requestExit(), member)
    withdrawable_at = events(oracle, receipt, "ExitRequested")[0]["withdrawableAt"]
    warp_past(w3c, withdrawable_at)
    stake = oracle.functions.getOperator(member).call()[0]
    receipt = send(oracle.functions.withdrawStake(), member)
    assert events(oracle, receipt, "StakeWithdrawn")[0]["amount"] == stake


def test_pause_and_resume_assignments(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    op, stranger = operators[0], actors.outsider
    with reverts("NotRegistered"):
        send(oracle.functions.pauseAssignments(), stranger)
    with reverts("NotRegistered"):
        send(oracle.functions.resumeAssignments(), stranger)
    with reverts("AssignmentsNotPaused"):
        send(oracle.functions.resumeAssignments(), op)
    eligible, weight = (
        oracle.functions.eligibleOperatorCount().call(),
        oracle.functions.totalWeight().call(),
    )
    stake = oracle.functions.getOperator(op).call()[0]
    send(oracle.functions.pauseAssignments(), op)
    info = oracle.functions.getOperator(op).call()
    assert (info[2], info[3], info[6]) == (False, False, True)  # not active, not exiting, paused
    assert oracle.functions.eligibleOperatorCount().call() == eligible - 1
    assert oracle.functions.totalWeight().call() == weight - stake // 10**9
    with reverts("AssignmentsAlreadyPaused"):
        send(oracle.functions.pauseAssignments(), op)
    # Topping up while paused raises the stake but keeps the operator out of the draw.
    send(oracle.functions.addStake(), op, ETHER)
    assert oracle.functions.eligibleOperatorCount().call() == eligible - 1
    receipt = send(oracle.functions.resumeAssignments(), op)
    assert events(oracle, receipt, "AssignmentsResumed")[0]["operator"] == op
    assert oracle.functions.getOperator(op).call()[2] is True
    assert oracle.functions.eligibleOperatorCount().call() == eligible
    assert oracle.functions.totalWeight().call() == weight + ETHER // 10**9
    # A paused operator may exit directly (exit clears the pause); an exiting one cannot pause.
    send(oracle.functions.pauseAssignments(), op)
    send(oracle.functions.requestExit(), op)
    assert oracle.functions.getOperator(op).call()[6] is False
    with reverts("OperatorExiting"):
        send(oracle.functions.pauseAssignments(), op)
    with reverts("OperatorExiting"):
        send(oracle.functions.resumeAssignments(), op)


def test_claim_and_treasury(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    with reverts("NothingToClaim"):
        send(oracle.functions.claim(), actors.outsider)
    with reverts("NothingToClaim"):
        send(oracle.functions.withdrawTreasury(), actors.outsider)
    task = request(oracle, actors.requester, size=3, fee=10**15 * 3 + 2)  # 2 wei of dust
    run_task(w3c, oracle, task, [b"\x22" * 32] * 3)
    member = task.committee[0]
    share = oracle.functions.creditOf(member).call()
    assert share == (task.fee) // 3
    before = w3c.eth.get_balance(member)
    receipt = send(oracle.functions.claim(), member)
    assert events(oracle, receipt, "BalanceClaimed")[0]["amount"] == share
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert w3c.eth.get_balance(member) == before + share - fee
    assert oracle.functions.creditOf(member).call() == 0
    assert oracle.functions.treasuryBalance().call() == 2
    treasury = oracle.functions.config().call()[9]
    receipt = send(oracle.functions.withdrawTreasury(), actors.outsider)
    assert events(oracle, receipt, "TreasuryWithdrawn")[0]["amount"] == 2
    assert w3c.eth.get_balance(treasury) >= 2


def test_register_model(w3c: Web3, oracle: Contract, actors: Actors) -> None:
    args = (MODEL_ID, 1, "sha256-tokens", 0, 0, "ipfs://llm")
    with reverts("OwnableUnauthorizedAccount"):
        send(oracle.functions.registerModel(*args), actors.outsider)
    with reverts("InvalidModelId"):
        send(oracle.functions.registerModel(b"\0" * 32, *args[1:]), actors.owner)
    with reverts("InvalidDigestScheme"):
        send(oracle.functions.registerModel(MODEL_ID, 1, "", 0, 0, ""), actors.owner)
    with reverts("InvalidTolerance"):
        send(
            oracle.functions.registerModel(MODEL_ID, 0, "phash64", 0, 0x41000000, ""), actors.owner
        )
    with reverts("ToleranceTooHigh"):
        send(oracle.functions.registerModel(MODEL_ID, 0, "phash64", 0x09, 0x08, ""), actors.owner)
    receipt = send(oracle.functions.registerModel(*args), actors.owner)
    event = events(oracle, receipt, "ModelRegistered")[0]
    assert (event["kind"], event["digestScheme"], event["metadataURI"]) == (
        1,
        "sha256-tokens",
        "ipfs://llm",
    )
    assert oracle.functions.getModel(MODEL_ID).call() == (
        1,
        True,
        0,
        0,
        "sha256-tokens",
        "ipfs://llm",
    )
    assert oracle.functions.modelCount().call() == 1
    with reverts("ModelAlreadyRegistered"):
        send(oracle.functions.registerModel(*args), actors.owner)
    with reverts("UnknownModel"):
        oracle.functions.getModel(b"\x05" * 32).call()


def test_set_model_active(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    with reverts("UnknownModel"):
        send(oracle.functions.setModelActive(b"\x05" * 32, False), actors.owner)
    with reverts("OwnableUnauthorizedAccount"):
        send(oracle.functions.setModelActive(MODEL_ID, False), actors.outsider)
    receipt = send(oracle.functions.setModelActive(MODEL_ID, False), actors.owner)
    assert events(oracle, receipt, "ModelStatusChanged")[0]["active"] is False
    with reverts("ModelInactive"):
        request(oracle, actors.requester)
    send(oracle.functions.setModelActive(MODEL_ID, True), actors.owner)
    request(oracle, actors.requester)


def test_request_validation(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    with reverts("UnknownModel"):
        request(oracle, actors.requester, model=b"\x09" * 32)
    for size in (0, 2, 9):
        with reverts("InvalidCommitteeSize"):
            request(oracle, actors.requester, size=size, fee=10**16)
    with reverts("ToleranceTooHigh"):
        request(oracle, actors.requester, tol=0x21000000)
    with reverts("CallbackGasTooHigh"):
        request(oracle, actors.requester, callback_gas=1_000_001)
    with reverts("FeeTooLow"):
        request(oracle, actors.requester, size=3, fee=3 * 10**15 - 1)
    task = request(oracle, actors.requester, size=3)
    assert task.id == 1 and request(oracle, actors.requester).id == 2
    assert oracle.functions.taskCount().call() == 2
    info = oracle.functions.getTask(task.id).call()
    assert info[4] == 0x08000000  # the model's default tolerance
    assert info[1] == MODEL_ID and info[0] == actors.requester
    with reverts("TaskNotFound"):
        oracle.functions.getTask(77).call()
    for op in operators[:5]:
        send(oracle.functions.pauseAssignments(), op)
    with reverts("NotEnoughOperators"):
        request(oracle, actors.requester, size=3)


def test_fee_above_the_escrow_cap_is_refused(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    cap = oracle.functions.MAX_FEE().call()
    assert cap == 2**80 - 1
    rpc(w3c, "anvil_setBalance", [actors.requester, hex(2**81)])
    with reverts("FeeTooHigh"):
        request(oracle, actors.requester, size=3, fee=cap + 1)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("min_stake", 10**9 - 1),
        ("min_fee_per_member", 0),
        ("commit_window", 0),
        ("reveal_window", 0),
        ("slash_deviation_bps", 10_001),
        ("slash_no_commit_bps", 10_001),
        ("max_committee_size", 4),
        ("max_committee_size", 9),
        ("max_callback_gas_limit", 2**24),
    ],
)
def test_constructor_rejects_bad_config(
    w3c: Web3, accounts: list[LocalAccount], field: str, value: int
) -> None:
    config = replace(OracleConfig(), **{field: value})
    with reverts("InvalidConfig"):
        deploy_oracle(w3c, accounts[0], config, records_dir=None)
