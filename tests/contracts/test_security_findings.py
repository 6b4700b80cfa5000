"""The attacker's side of the security review, played on the real Anvil chain: each test runs the
attack a finding described against the rewritten contracts, shows it no longer pays, and checks
after it that the oracle's ETH balance is exactly its stakes, escrowed fees (Drawing/Open tasks),
credits and treasury balance. Each of these failed against the previous contract."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from contract_testlib import (
    ETHER,
    INPUT,
    MODEL_ID,
    USE_DEFAULT,
    Actors,
    assert_balance_invariant,
    commit_all,
    config_of,
    digest_with_flips,
    draw,
    events,
    operator_info,
    register_model,
    request,
    requested,
    required_fee,
    reveal,
    reverts,
    rpc,
    salt_for,
    send,
    stake_of,
    task_info,
    warp_past,
)
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from deploy.artifacts import load_artifact
from deploy.deployer import OracleConfig, deploy_contract, deploy_oracle, oracle_at
from inference.digests import INVALID_INPUT_DIGEST
from oracle.chain.views import FailureReason, Phase, SlashReason, TaskStatus

BASE = bytes.fromhex("0123456789abcdef" * 4)
FAR = bytes.fromhex("fedcba9876543210" * 4)


@pytest.fixture
def people(accounts: list[LocalAccount]) -> list[str]:
    """Every account that can hold stake or credit in these tests (contracts are added per test)."""
    return [a.address for a in accounts]


def _deploy(w3: Web3, accounts: list[LocalAccount], oracle: Contract, name: str) -> Contract:
    address, _ = deploy_contract(w3, accounts[0], name, oracle.address)
    return w3.eth.contract(address=address, abi=load_artifact(name)["abi"])


# (1) ------------------------------------------------------------------------------------------


def test_f1_honest_committer_is_not_slashed_when_fewer_than_a_majority_commit(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, people: list[str]
) -> None:
    """Two members stay away so that the one who did its part cannot reveal: it used to be slashed
    for not revealing. Now the task expires and its stake is untouched; the absent members'
    slashes go to the treasury (paying them to the committer would pay a lazy member who commits
    garbage at the last moment: see test_review_attacks)."""
    task = request(oracle, actors.requester, size=3)
    committer, *absent = task.committee
    commit_all(w3c, oracle, task, {committer: BASE}, [committer])
    stakes = {m: stake_of(oracle, m) for m in task.committee}
    warp_past(w3c, task.commit_deadline)
    assert oracle.functions.taskPhase(task.id).call() == Phase.RESOLVABLE
    receipt = send(oracle.functions.resolve(task.id), actors.outsider)

    assert events(oracle, receipt, "TaskFailed")[0]["reason"] == FailureReason.EXPIRED
    slashes = events(oracle, receipt, "OperatorSlashed")
    assert sorted(e["operator"] for e in slashes) == sorted(absent)
    assert all(e["reason"] == SlashReason.NOT_COMMITTED for e in slashes)
    assert stake_of(oracle, committer) == stakes[committer]
    assert oracle.functions.creditOf(committer).call() == 0
    assert oracle.functions.treasuryBalance().call() == sum(e["amount"] for e in slashes)
    assert oracle.functions.creditOf(actors.requester).call() == task.fee
    assert task_info(oracle, task.id)["status"] == TaskStatus.EXPIRED
    assert_balance_invariant(oracle, people)


# (2) ------------------------------------------------------------------------------------------


def test_f2_grinding_requester_cannot_see_its_committee_nor_ask_for_one_member(
    w3c: Web3,
    oracle: Contract,
    operators: list[str],
    actors: Actors,
    accounts: list[LocalAccount],
    people: list[str],
) -> None:
    """A requester contract requests and reads its committee in the same transaction, reverting
    unless its friend is on it: it sees nothing, so every attempt that insists on the friend
    reverts. A committee of one (a single friendly verifier) is refused outright."""
    grinder = _deploy(w3c, accounts, oracle, "GrindingRequester")
    fee = required_fee(oracle, 3)

    receipt = send(
        grinder.functions.requestAndPeek(
            MODEL_ID, INPUT, 3, Web3.to_checksum_address("0x" + "0" * 40)
        ),
        actors.requester,
        fee,
    )
    task_id = grinder.functions.lastTaskId().call()
    assert grinder.functions.lastCommitteeLength().call() == 0
    assert grinder.functions.lastEntropy().call() == b"\0" * 32
    assert grinder.functions.lastStatus().call() == TaskStatus.DRAWING
    assert grinder.functions.lastPhase().call() == Phase.DRAW
    # Only from the next block on does the committee exist (and then it is fixed).
    committee, entropy = oracle.functions.committeeOf(task_id).call(block_identifier="pending")
    assert len(committee) == 3 and entropy != b"\0" * 32
    assert receipt["blockNumber"] == task_info(oracle, task_id)["drawBlock"]

    # The grinding loop: every try that insists on the friend reverts, whoever the friend is.
    friend = operators[-1]  # the largest stake: on most committees of three
    for _ in range(4):
        with reverts("NotMyCommittee"):
            send(
                grinder.functions.requestAndPeek(MODEL_ID, INPUT, 3, friend), actors.requester, fee
            )
    with reverts("InvalidCommitteeSize"):
        send(
            grinder.functions.requestAndPeek(MODEL_ID, INPUT, 1, friend),
            actors.requester,
            required_fee(oracle, 1),
        )
    with reverts("InvalidCommitteeSize"):
        request(oracle, actors.requester, size=1, drawn=False)
    assert oracle.functions.taskCount().call() == task_id
    assert_balance_invariant(oracle, [*people, grinder.address])


# (3) ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("change", ["top_up", "register", "resume", "serve"])
def test_f3_weight_change_after_the_request_does_not_change_the_committee(
    w3c: Web3,
    oracle: Contract,
    operators: list[str],
    actors: Actors,
    accounts: list[LocalAccount],
    people: list[str],
    change: str,
) -> None:
    """An operator sees a request mined and, in a later block, changes the weights to get onto its
    committee (a huge top-up, a fresh registration, resuming, starting to serve the model). The
    task's committee is the one previewed before the change: the change first draws every task
    whose randomness exists, with the weights in force when the request was made."""
    attacker = operators[0] if change != "register" else accounts[12].address
    if change == "resume":  # paused before the request, topped up while out of the draw
        send(oracle.functions.pauseAssignments(), attacker)
        send(oracle.functions.addStake(), attacker, 5_000 * ETHER)
    if change == "serve":  # not serving the model at the request, topped up meanwhile
        send(oracle.functions.stopServingModel(MODEL_ID), attacker)
        send(oracle.functions.addStake(), attacker, 5_000 * ETHER)
    task = request(oracle, actors.requester, size=3, drawn=False)
    preview, entropy = oracle.functions.committeeOf(task.id).call(block_identifier="pending")
    assert len(preview) == 3

    functions = oracle.functions
    if change == "top_up":
        receipt = send(functions.addStake(), attacker, 5_000 * ETHER)
    elif change == "register":
        receipt = send(functions.register("http://attacker", [MODEL_ID]), attacker, 5_000 * ETHER)
    elif change == "resume":
        receipt = send(functions.resumeAssignments(), attacker)
    else:
        receipt = send(functions.serveModel(MODEL_ID), attacker)

    # The change drew the waiting task first, with the old weights.
    drawn = events(oracle, receipt, "CommitteeDrawn")
    assert [e["taskId"] for e in drawn] == [task.id]
    assert list(drawn[0]["committee"]) == list(preview) and drawn[0]["entropy"] == entropy
    info = task_info(oracle, task.id)
    assert info["status"] == TaskStatus.OPEN and info["committee"] == list(preview)
    members, _entropy = oracle.functions.committeeOf(task.id).call()
    assert members == list(preview)
    # The attacker now outweighs everyone else together: it is on (nearly) every later committee,
    # which shows the change was real, only too late for the task it aimed at.
    assert oracle.functions.drawWeight(attacker, MODEL_ID).call() >= 5_000 * 10**9
    later = request(oracle, actors.requester, size=3)
    assert attacker in later.committee
    assert_balance_invariant(oracle, people)


# (4) ------------------------------------------------------------------------------------------


def _reveal_in_order(
    w3: Web3, oracle: Contract, task: Any, digests: dict[str, bytes], order: list[str]
) -> dict[str, Any]:
    receipt = None
    for member in order:
        receipt = reveal(w3, oracle, task, member, digests[member])
    resolved = events(oracle, receipt, "TaskResolved")
    outcome: dict[str, Any] = {
        "status": task_info(oracle, task.id)["status"],
        "credits": {m: oracle.functions.creditOf(m).call() for m in task.committee},
        "stakes": {m: stake_of(oracle, m) for m in task.committee},
    }
    if resolved:
        outcome["digest"] = resolved[0]["digest"]
        outcome["support"] = resolved[0]["support"]
        outcome["paid"] = sorted(resolved[0]["agreeing"])
    return outcome


#: Digests by committee position. "tie": three honest members agree on BASE; two colluders reveal
#: the same digest 8 bits away, within the model's default tolerance (8 in lane 0): both digests
#: have support 5, and the colluders used to win by revealing first. "split": a 3-2 split with a
#: near-duplicate among the majority.
CASES = {
    "tie": [BASE, BASE, BASE, digest_with_flips(BASE, 0, 8), digest_with_flips(BASE, 0, 8)],
    "split": [BASE, digest_with_flips(BASE, 0, 3), BASE, FAR, FAR],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_f4_reveal_order_does_not_decide_the_result(
    w3c: Web3,
    oracle: Contract,
    operators: list[str],
    actors: Actors,
    people: list[str],
    case: str,
) -> None:
    """The same five digests revealed honest-first and colluders-first (from one snapshot) give
    the same winner, support, paid set, credits and stakes."""
    task = request(oracle, actors.requester, size=5)
    digests = dict(zip(task.committee, CASES[case], strict=True))
    commit_all(w3c, oracle, task, digests, task.committee)
    honest_first = list(task.committee)
    colluders_first = honest_first[3:] + honest_first[:3]

    snapshot = rpc(w3c, "evm_snapshot", [])
    first = _reveal_in_order(w3c, oracle, task, digests, honest_first)
    assert_balance_invariant(oracle, people)
    assert rpc(w3c, "evm_revert", [snapshot]) is True
    second = _reveal_in_order(w3c, oracle, task, digests, colluders_first)
    assert_balance_invariant(oracle, people)

    assert first == second
    assert first["status"] == TaskStatus.RESOLVED
    if case == "tie":
        # Both have support 5; BASE is the more central digest (3 x 0 + 2 x 8 bits away).
        assert first["digest"] == BASE and first["support"] == 5
        assert first["paid"] == sorted(task.committee)
    else:
        assert first["digest"] in (BASE, digest_with_flips(BASE, 0, 3))
        assert first["paid"] == sorted(task.committee[:3])


# (5) ------------------------------------------------------------------------------------------


def test_f5_reveal_batch_survives_an_opening_front_run_by_its_member(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, people: list[str]
) -> None:
    """A member sees the aggregated reveal in the mempool and gets its own reveal in first, in the
    same block, to make the batch revert (AlreadyRevealed) and the others look absent. The batch
    now skips the revealed position and still reveals the rest and resolves."""
    task = request(oracle, actors.requester, size=3)
    digests = dict.fromkeys(task.committee, BASE)
    commit_all(w3c, oracle, task, digests, task.committee)
    openings = [(p, m, BASE, salt_for(task.id, m)) for p, m in enumerate(task.committee)]
    front_runner = task.committee[1]
    gas_price = w3c.eth.gas_price

    rpc(w3c, "evm_setAutomine", [False])
    try:
        batch_tx = oracle.functions.revealBatch(task.id, openings).transact(
            {"from": actors.outsider, "gas": 1_000_000, "gasPrice": gas_price}
        )
        front_tx = oracle.functions.reveal(task.id, BASE, salt_for(task.id, front_runner)).transact(
            {"from": front_runner, "gas": 1_000_000, "gasPrice": gas_price * 10}
        )
        rpc(w3c, "evm_mine", [])
    finally:
        rpc(w3c, "evm_setAutomine", [True])
    front = w3c.eth.get_transaction_receipt(front_tx)
    batch = w3c.eth.get_transaction_receipt(batch_tx)
    assert front["blockNumber"] == batch["blockNumber"]
    assert front["transactionIndex"] < batch["transactionIndex"]
    assert front["status"] == 1 and batch["status"] == 1
    revealed = [e["operator"] for e in events(oracle, batch, "DigestRevealed")]
    assert revealed == [task.committee[0], task.committee[2]]
    resolved = events(oracle, batch, "TaskResolved")[0]
    assert resolved["support"] == 3 and sorted(resolved["agreeing"]) == sorted(task.committee)
    assert events(oracle, batch, "OperatorSlashed") == []
    assert_balance_invariant(oracle, people)


# (6) ------------------------------------------------------------------------------------------


def test_f6_lazy_members_claiming_invalid_input_do_not_outvote_the_honest_one(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, people: list[str]
) -> None:
    """Two members skip the work and reveal INVALID_INPUT_DIGEST; the third runs the model. The
    lazy pair used to win 2-1, get the fee and have the honest member slashed. Now the reserved
    digest agrees with no real digest: no consensus, nobody slashed, the lazy pair paid nothing."""
    task = request(oracle, actors.requester, size=3)
    honest, *lazy = task.committee
    digests = {honest: BASE, **dict.fromkeys(lazy, INVALID_INPUT_DIGEST)}
    commit_all(w3c, oracle, task, digests, task.committee)
    stakes = {m: stake_of(oracle, m) for m in task.committee}
    receipt = None
    for member in [*lazy, honest]:
        receipt = reveal(w3c, oracle, task, member, digests[member])

    assert events(oracle, receipt, "TaskResolved") == []
    assert events(oracle, receipt, "TaskFailed")[0]["reason"] == FailureReason.NO_CONSENSUS
    assert events(oracle, receipt, "OperatorSlashed") == []
    assert task_info(oracle, task.id)["status"] == TaskStatus.NO_CONSENSUS
    assert {m: stake_of(oracle, m) for m in task.committee} == stakes
    for member in lazy:
        assert oracle.functions.creditOf(member).call() == 0
    assert oracle.functions.creditOf(actors.requester).call() == task.fee
    assert_balance_invariant(oracle, people)


# (7) ------------------------------------------------------------------------------------------


def test_f7_max_callback_gas_above_the_bound_is_refused_at_deployment(
    w3c: Web3, accounts: list[LocalAccount], people: list[str]
) -> None:
    """A deployer cannot allow callbacks so large that a resolution would not fit in a block (a
    consumer could then make its task unresolvable and its members' stakes stuck)."""
    base = OracleConfig()
    with reverts("InvalidConfig"):
        deploy_oracle(
            w3c, accounts[0], replace(base, max_callback_gas_limit=10_000_001), records_dir=None
        )
    deployment = deploy_oracle(
        w3c, accounts[0], replace(base, max_callback_gas_limit=10_000_000), records_dir=None
    )
    oracle = oracle_at(w3c, deployment.oracle)
    assert oracle.functions.MAX_CALLBACK_GAS_LIMIT().call() == 10_000_000
    assert config_of(oracle)["maxCallbackGasLimit"] == 10_000_000
    assert_balance_invariant(oracle, people)


# (9) ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tol", [0, 0x07000000, 0x07101010])
def test_f9_tolerance_below_the_models_floor_is_refused(
    w3c: Web3,
    oracle: Contract,
    operators: list[str],
    actors: Actors,
    people: list[str],
    tol: int,
) -> None:
    """A requester asks for a tolerance tighter than honest hardware noise (the model's default),
    so that honest members disagree and get slashed, or no consensus refunds its fee after the
    work was done. Refused; the floor itself and anything between floor and maximum are fine."""
    with reverts("ToleranceBelowFloor"):
        request(oracle, actors.requester, size=3, tol=tol, drawn=False)
    assert oracle.functions.taskCount().call() == 0
    floor = request(oracle, actors.requester, size=3, tol=0x08000000, drawn=False)
    assert task_info(oracle, floor.id)["tolerance"] == 0x08000000
    looser = request(oracle, actors.requester, size=3, tol=0x10000101, drawn=False)
    assert task_info(oracle, looser.id)["tolerance"] == 0x10000101
    assert_balance_invariant(oracle, people)


def test_f9_an_outsider_cannot_forge_a_models_floor(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, people: list[str]
) -> None:
    """The oracle keeps a copy of each model's request terms (the audit tolerance included),
    which only its registry may update: an outsider who rewrites the floor to 0 (to get honest
    members slashed for noise) is refused, and the floor still holds. The update reaches the
    oracle's operator desk through its fallback, which checks the caller there."""
    model = task_info(oracle, request(oracle, actors.requester, size=3, drawn=False).id)["modelId"]
    errors = [entry for entry in oracle.abi if entry["type"] == "error"]
    listener = w3c.eth.contract(
        address=oracle.address, abi=load_artifact("IModelTermsListener")["abi"] + errors
    )
    with reverts("OnlyModelRegistry"):
        send(
            listener.functions.modelTermsChanged(model, 0, True, 0, 0x40404040, 0), actors.outsider
        )
    with reverts("ToleranceBelowFloor"):
        request(oracle, actors.requester, size=3, tol=0, drawn=False)
    assert_balance_invariant(oracle, people)


# (11) -----------------------------------------------------------------------------------------


def test_f11_request_for_a_model_too_few_operators_serve_reverts_and_nobody_loses_stake(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, people: list[str]
) -> None:
    """A requester asks for a model nobody (or too few) serve: the task used to be drawn from
    operators that cannot run the model, who were then slashed for not committing. Now the request
    reverts and no stake moves."""
    orphan = Web3.keccak(text="orphan-model")
    register_model(oracle, actors.owner, orphan, 1, "sha256-tokens", 0, 0, "")
    stakes = {m: stake_of(oracle, m) for m in operators}
    fee = required_fee(oracle, 3)
    with reverts("NotEnoughOperators"):
        send(
            oracle.functions.requestGeneration(orphan, INPUT, 3, USE_DEFAULT, 0),
            actors.requester,
            fee,
        )
    for operator in operators[:2]:  # two servers are still too few for a committee of three
        send(oracle.functions.serveModel(orphan), operator)
    with reverts("NotEnoughOperators"):
        send(
            oracle.functions.requestGeneration(orphan, INPUT, 3, USE_DEFAULT, 0),
            actors.requester,
            fee,
        )
    assert oracle.functions.taskCount().call() == 0
    assert {m: stake_of(oracle, m) for m in operators} == stakes
    # Only the servers of a model are ever drawn for it.
    send(oracle.functions.serveModel(orphan), operators[2])
    task = request(oracle, actors.requester, size=3, model=orphan)
    assert sorted(task.committee) == sorted(operators[:3])
    assert_balance_invariant(oracle, people)


# (12) -----------------------------------------------------------------------------------------


def test_f12_the_resolver_of_a_task_with_a_callback_gets_the_callback_fee(
    w3c: Web3,
    oracle: Contract,
    operators: list[str],
    actors: Actors,
    accounts: list[LocalAccount],
    people: list[str],
) -> None:
    """A consumer asks for an expensive callback; the keeper who resolves the task pays that gas.
    It used to be paid nothing (so nobody resolved); now the callback part of the fee, callback
    gas times the configured price, is credited to whoever sends the resolving transaction."""
    consumer = _deploy(w3c, accounts, oracle, "RecordingConsumer")
    callback_gas = 200_000
    price = config_of(oracle)["callbackGasPrice"]
    fee = required_fee(oracle, 3, callback_gas)
    assert fee == 3 * 10**15 + callback_gas * price
    receipt = send(
        consumer.functions.request(MODEL_ID, INPUT, 3, USE_DEFAULT, callback_gas),
        actors.requester,
        fee,
    )
    task = draw(oracle, requested(oracle, receipt), actors.outsider)
    digests = dict.fromkeys(task.committee, BASE)
    commit_all(w3c, oracle, task, digests, task.committee)
    for member in task.committee[:2]:
        reveal(w3c, oracle, task, member, BASE)
    warp_past(w3c, task.reveal_deadline)  # the third never reveals: a keeper must resolve
    keeper = actors.outsider
    assert oracle.functions.creditOf(keeper).call() == 0
    receipt = send(oracle.functions.resolve(task.id), keeper)

    assert events(oracle, receipt, "CallbackCompleted")[0]["success"] is True
    assert consumer.functions.lastDigest().call() == BASE
    assert oracle.functions.creditOf(keeper).call() == callback_gas * price
    slash = events(oracle, receipt, "OperatorSlashed")[0]["amount"]
    share = (fee - callback_gas * price + slash) // 2
    for member in task.committee[:2]:
        assert oracle.functions.creditOf(member).call() == share
    # The keeper's credit covers its gas at the configured price.
    assert receipt["gasUsed"] * receipt["effectiveGasPrice"] < callback_gas * price + 10**15
    assert_balance_invariant(oracle, [*people, consumer.address])


# (13) -----------------------------------------------------------------------------------------


def test_f13_a_new_registrant_reuses_the_index_freed_by_a_withdrawal(
    w3c: Web3,
    oracle: Contract,
    operators: list[str],
    actors: Actors,
    accounts: list[LocalAccount],
    people: list[str],
) -> None:
    """Register-and-withdraw churn used to burn a fresh 20-bit operator index each time, until
    the registry was full (TooManyOperators) and nobody could join. Freed indices are reused."""
    leaver = operators[0]
    index = oracle.functions.operatorIndex(leaver).call()
    receipt = send(oracle.functions.requestExit(), leaver)
    warp_past(w3c, events(oracle, receipt, "ExitRequested")[0]["withdrawableAt"])
    send(oracle.functions.withdrawStake(), leaver)
    assert oracle.functions.operatorAt(index).call() == "0x" + "0" * 40
    assert oracle.functions.operatorIndex(leaver).call() == 0

    newcomer = accounts[12].address
    send(oracle.functions.register("http://newcomer", [MODEL_ID]), newcomer, 2 * ETHER)
    assert oracle.functions.operatorIndex(newcomer).call() == index
    assert oracle.functions.operatorAt(index).call() == newcomer
    # The reused index serves normally: a committee of all seven includes the newcomer, which
    # commits, reveals and is paid.
    task = request(oracle, actors.requester, size=7)
    assert newcomer in task.committee and leaver not in task.committee
    digests = dict.fromkeys(task.committee, BASE)
    commit_all(w3c, oracle, task, digests, task.committee)
    receipt = None
    for member in task.committee:
        receipt = reveal(w3c, oracle, task, member, BASE)
    assert newcomer in events(oracle, receipt, "TaskResolved")[0]["agreeing"]
    assert oracle.functions.creditOf(newcomer).call() == task.fee // 7
    assert operator_info(oracle, newcomer)["openTasks"] == 0
    # A second churn reuses the same index again rather than taking a new one.
    another = accounts[13].address
    receipt = send(oracle.functions.requestExit(), newcomer)
    warp_past(w3c, events(oracle, receipt, "ExitRequested")[0]["withdrawableAt"])
    send(oracle.functions.withdrawStake(), newcomer)
    send(oracle.functions.register("http://another", [MODEL_ID]), another, 2 * ETHER)
    assert oracle.functions.operatorIndex(another).call() == index
    assert_balance_invariant(oracle, people)
