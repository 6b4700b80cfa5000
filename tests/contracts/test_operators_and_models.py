"""Operator and model-registry functions: happy paths and every revert, by custom error name."""

from __future__ import annotations

from dataclasses import replace

import pytest
from contract_testlib import (
    ETHER,
    MODEL_ID,
    Actors,
    config_of,
    events,
    model_info,
    operator_info,
    register_model,
    registry,
    request,
    reverts,
    rpc,
    run_task,
    send,
    stake_of,
    task_info,
    warp_past,
)
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from deploy.deployer import OracleConfig, deploy_oracle


def pool(oracle: Contract, model_id: bytes = MODEL_ID) -> tuple[int, int]:
    """(eligible operators, total draw weight in gwei) of the model's pool."""
    eligible, weight = oracle.functions.poolOf(model_id).call()
    return eligible, weight


def test_register_and_views(w3c: Web3, oracle: Contract, actors: Actors, model: bytes) -> None:
    op = actors.operators[0]
    receipt = send(oracle.functions.register("http://node.test", [model]), op, 2 * ETHER)
    event = events(oracle, receipt, "OperatorRegistered")[0]
    assert (event["operator"], event["endpoint"], event["stake"]) == (
        op,
        "http://node.test",
        2 * ETHER,
    )
    assert events(oracle, receipt, "ModelServed")[0]["modelId"] == model
    assert operator_info(oracle, op) == {
        "stake": 2 * ETHER,
        "endpoint": "http://node.test",
        "active": True,
        "exiting": False,
        "withdrawableAt": 0,
        "openTasks": 0,
        "paused": False,
        "models": [model],
    }
    assert oracle.functions.operatorIndex(op).call() == 1
    assert oracle.functions.operatorAt(1).call() == op
    assert oracle.functions.drawWeight(op, model).call() == 2 * 10**9
    assert pool(oracle) == (1, 2 * 10**9)


def test_register_reverts(w3c: Web3, oracle: Contract, actors: Actors, model: bytes) -> None:
    op = actors.operators[0]
    with reverts("StakeTooLow"):
        send(oracle.functions.register("http://node.test", [model]), op, ETHER - 1)
    with reverts("InvalidEndpoint"):
        send(oracle.functions.register("", [model]), op, ETHER)
    with reverts("InvalidEndpoint"):
        send(oracle.functions.register("x" * 257, [model]), op, ETHER)
    with reverts("UnknownModel"):
        send(oracle.functions.register("http://node.test", [b"\x05" * 32]), op, ETHER)
    with reverts("AlreadyServing"):
        send(oracle.functions.register("http://node.test", [model, model]), op, ETHER)
    send(oracle.functions.register("http://node.test", [model]), op, ETHER)
    with reverts("AlreadyRegistered"):
        send(oracle.functions.register("http://node.test", [model]), op, ETHER)


def test_serve_and_stop_serving_models(
    w3c: Web3, oracle: Contract, actors: Actors, model: bytes
) -> None:
    op, other = actors.operators[:2]
    second = Web3.keccak(text="second-model")
    register_model(oracle, actors.owner, second, 1, "sha256-tokens", 0, 0, "")
    with reverts("NotRegistered"):
        send(oracle.functions.serveModel(model), op)
    with reverts("NotRegistered"):
        send(oracle.functions.stopServingModel(model), op)
    send(oracle.functions.register("http://a", []), op, 2 * ETHER)  # serves nothing yet
    assert operator_info(oracle, op)["models"] == []
    assert pool(oracle) == (0, 0)
    receipt = send(oracle.functions.serveModel(model), op)
    assert events(oracle, receipt, "ModelServed")[0]["operator"] == op
    send(oracle.functions.serveModel(second), op)
    assert operator_info(oracle, op)["models"] == [model, second]
    assert pool(oracle) == pool(oracle, second) == (1, 2 * 10**9)
    with reverts("AlreadyServing"):
        send(oracle.functions.serveModel(model), op)
    with reverts("UnknownModel"):
        send(oracle.functions.serveModel(b"\x05" * 32), op)
    send(oracle.functions.register("http://b", []), other, ETHER)
    with reverts("NotServing"):
        send(oracle.functions.stopServingModel(model), other)
    # A top-up moves the weight in every pool the operator serves.
    send(oracle.functions.addStake(), op, ETHER)
    assert pool(oracle) == pool(oracle, second) == (1, 3 * 10**9)
    receipt = send(oracle.functions.stopServingModel(model), op)
    assert events(oracle, receipt, "ModelUnserved")[0]["modelId"] == model
    assert operator_info(oracle, op)["models"] == [second]
    assert pool(oracle) == (0, 0) and oracle.functions.drawWeight(op, model).call() == 0
    # The freed pool slot is reused by the next server of the model.
    send(oracle.functions.serveModel(model), other)
    assert pool(oracle) == (1, 10**9)
    send(oracle.functions.serveModel(model), op)
    assert pool(oracle) == (2, 4 * 10**9)
    # Exiting stops serving every model.
    send(oracle.functions.requestExit(), op)
    assert operator_info(oracle, op)["models"] == []
    assert pool(oracle) == (1, 10**9) and pool(oracle, second) == (0, 0)
    with reverts("OperatorExiting"):
        send(oracle.functions.serveModel(model), op)


def test_add_stake_and_set_endpoint(
    w3c: Web3, oracle: Contract, actors: Actors, model: bytes
) -> None:
    op = actors.operators[0]
    with reverts("NotRegistered"):
        send(oracle.functions.addStake(), op, ETHER)
    with reverts("NotRegistered"):
        send(oracle.functions.setEndpoint("http://x"), op)
    send(oracle.functions.register("http://a", [model]), op, ETHER)
    with reverts("ZeroAmount"):
        send(oracle.functions.addStake(), op, 0)
    receipt = send(oracle.functions.addStake(), op, ETHER)
    assert events(oracle, receipt, "StakeAdded")[0]["newStake"] == 2 * ETHER
    assert pool(oracle) == (1, 2 * 10**9)
    with reverts("InvalidEndpoint"):
        send(oracle.functions.setEndpoint(""), op)
    receipt = send(oracle.functions.setEndpoint("http://b"), op)
    assert events(oracle, receipt, "EndpointUpdated")[0]["endpoint"] == "http://b"
    assert operator_info(oracle, op)["endpoint"] == "http://b"
    send(oracle.functions.requestExit(), op)
    with reverts("OperatorExiting"):
        send(oracle.functions.addStake(), op, ETHER)


def test_exit_and_withdraw(w3c: Web3, oracle: Contract, actors: Actors, model: bytes) -> None:
    op = actors.operators[0]
    with reverts("NotRegistered"):
        send(oracle.functions.requestExit(), op)
    with reverts("NotRegistered"):
        send(oracle.functions.withdrawStake(), op)
    send(oracle.functions.register("http://a", [model]), op, 3 * ETHER)
    with reverts("NotExiting"):
        send(oracle.functions.withdrawStake(), op)
    receipt = send(oracle.functions.requestExit(), op)
    withdrawable_at = events(oracle, receipt, "ExitRequested")[0]["withdrawableAt"]
    assert pool(oracle) == (0, 0)
    info = operator_info(oracle, op)
    assert (info["active"], info["exiting"], info["withdrawableAt"]) == (
        False,
        True,
        withdrawable_at,
    )
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
    assert operator_info(oracle, op)["stake"] == 0
    assert oracle.functions.operatorIndex(op).call() == 0
    assert oracle.functions.operatorAt(1).call() == "0x" + "0" * 40
    # A withdrawn operator may come back under its old (freed) index.
    send(oracle.functions.register("http://again", [model]), op, ETHER)
    assert oracle.functions.operatorIndex(op).call() == 1
    assert oracle.functions.operatorAt(1).call() == op


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
    open_tasks = operator_info(oracle, member)["openTasks"]
    assert open_tasks == 1
    with reverts("OpenAssignments"):
        send(oracle.functions.requestExit(), member)
    with reverts("NotExiting"):  # so the stake cannot leave while it answers for the task
        send(oracle.functions.withdrawStake(), member)
    warp_past(w3c, task.reveal_deadline)
    send(oracle.functions.resolve(task.id), actors.outsider)  # expired, member slashed
    assert operator_info(oracle, member)["openTasks"] == 0
    receipt = send(oracle.functions.requestExit(), member)
    withdrawable_at = events(oracle, receipt, "ExitRequested")[0]["withdrawableAt"]
    warp_past(w3c, withdrawable_at)
    stake = operator_info(oracle, member)["stake"]
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
    eligible, weight = pool(oracle)
    stake = stake_of(oracle, op)
    send(oracle.functions.pauseAssignments(), op)
    info = operator_info(oracle, op)
    assert (info["active"], info["exiting"], info["paused"]) == (False, False, True)
    assert pool(oracle) == (eligible - 1, weight - stake // 10**9)
    assert oracle.functions.drawWeight(op, MODEL_ID).call() == 0
    with reverts("AssignmentsAlreadyPaused"):
        send(oracle.functions.pauseAssignments(), op)
    # Topping up while paused raises the stake but keeps the operator out of the draw.
    send(oracle.functions.addStake(), op, ETHER)
    assert pool(oracle)[0] == eligible - 1
    receipt = send(oracle.functions.resumeAssignments(), op)
    assert events(oracle, receipt, "AssignmentsResumed")[0]["operator"] == op
    assert operator_info(oracle, op)["active"] is True
    assert pool(oracle) == (eligible, weight + ETHER // 10**9)
    # A paused operator may exit directly (exit clears the pause); an exiting one cannot pause.
    send(oracle.functions.pauseAssignments(), op)
    send(oracle.functions.requestExit(), op)
    assert operator_info(oracle, op)["paused"] is False
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
    treasury = config_of(oracle)["treasury"]
    receipt = send(oracle.functions.withdrawTreasury(), actors.outsider)
    assert events(oracle, receipt, "TreasuryWithdrawn")[0]["amount"] == 2
    assert w3c.eth.get_balance(treasury) >= 2


def test_register_model(w3c: Web3, oracle: Contract, actors: Actors) -> None:
    models = registry(oracle)
    args = (MODEL_ID, 1, "sha256-tokens", 0, 0, "ipfs://llm")
    with reverts("OwnableUnauthorizedAccount"):
        send(models.functions.registerModel(*args), actors.outsider)
    with reverts("InvalidModelId"):
        send(models.functions.registerModel(b"\0" * 32, *args[1:]), actors.owner)
    with reverts("InvalidDigestScheme"):
        send(models.functions.registerModel(MODEL_ID, 1, "", 0, 0, ""), actors.owner)
    with reverts("InvalidTolerance"):
        send(
            models.functions.registerModel(MODEL_ID, 0, "phash64", 0, 0x41000000, ""), actors.owner
        )
    with reverts("ToleranceTooHigh"):
        send(models.functions.registerModel(MODEL_ID, 0, "phash64", 0x09, 0x08, ""), actors.owner)
    receipt = send(models.functions.registerModel(*args), actors.owner)
    event = events(models, receipt, "ModelRegistered")[0]
    assert (event["kind"], event["digestScheme"], event["metadataURI"]) == (
        1,
        "sha256-tokens",
        "ipfs://llm",
    )
    assert model_info(oracle, MODEL_ID) == {
        "kind": 1,
        "active": True,
        "defaultTolerance": 0,
        "maxTolerance": 0,
        "index": 0,
        "digestScheme": "sha256-tokens",
        "metadataURI": "ipfs://llm",
    }
    assert models.functions.modelCount().call() == 1
    assert models.functions.indexOf(MODEL_ID).call() == 0
    assert models.functions.modelIdAt(0).call() == MODEL_ID
    with reverts("ModelAlreadyRegistered"):
        send(models.functions.registerModel(*args), actors.owner)
    with reverts("UnknownModel"):
        models.functions.getModel(b"\x05" * 32).call()


def test_set_model_active(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    models = registry(oracle)
    with reverts("UnknownModel"):
        send(models.functions.setModelActive(b"\x05" * 32, False), actors.owner)
    with reverts("OwnableUnauthorizedAccount"):
        send(models.functions.setModelActive(MODEL_ID, False), actors.outsider)
    receipt = send(models.functions.setModelActive(MODEL_ID, False), actors.owner)
    assert events(models, receipt, "ModelStatusChanged")[0]["active"] is False
    with reverts("ModelInactive"):
        request(oracle, actors.requester)
    send(models.functions.setModelActive(MODEL_ID, True), actors.owner)
    request(oracle, actors.requester)


def test_request_validation(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors
) -> None:
    with reverts("UnknownModel"):
        request(oracle, actors.requester, model=b"\x09" * 32)
    for size in (0, 1, 2, 9):
        with reverts("InvalidCommitteeSize"):
            request(oracle, actors.requester, size=size, fee=10**16)
    with reverts("ToleranceTooHigh"):
        request(oracle, actors.requester, tol=0x21000000)
    with reverts("ToleranceBelowFloor"):  # tighter than the model's honest floor (0x08000000)
        request(oracle, actors.requester, tol=0x07101010)
    with reverts("CallbackGasTooHigh"):
        request(oracle, actors.requester, callback_gas=1_000_001)
    with reverts("FeeTooLow"):
        request(oracle, actors.requester, size=3, fee=3 * 10**15 - 1)
    # The fee covers the members and the callback gas at the configured price.
    price = config_of(oracle)["callbackGasPrice"]
    assert oracle.functions.requiredFee(3, 50_000).call() == 3 * 10**15 + 50_000 * price
    with reverts("FeeTooLow"):
        request(oracle, actors.requester, size=3, callback_gas=50_000, fee=3 * 10**15)
    task = request(oracle, actors.requester, size=3)
    assert task.id == 1 and request(oracle, actors.requester).id == 2
    assert oracle.functions.taskCount().call() == 2
    info = task_info(oracle, task.id)
    assert info["tolerance"] == 0x08000000  # the model's default tolerance
    assert info["modelId"] == MODEL_ID and info["requester"] == actors.requester
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
        ("max_callback_gas_limit", 10_000_001),
        ("max_committee_size", 1),
    ],
)
def test_constructor_rejects_bad_config(
    w3c: Web3, accounts: list[LocalAccount], field: str, value: int
) -> None:
    config = replace(OracleConfig(), **{field: value})
    with reverts("InvalidConfig"):
        deploy_oracle(w3c, accounts[0], config, records_dir=None)
