"""Independent security review, played on the real Anvil chain.

Tests named ``test_finding_*`` DEMONSTRATE A REAL PROBLEM: they pass because they assert the bad
behaviour (the exact slash or payment that should not happen). Each docstring says what the
correct behaviour would be; flip the assertions once the contract is fixed.

Tests named ``test_holds_*`` try an attack that does NOT work and assert the balance invariant.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from contract_testlib import (
    ETHER,
    MODEL_ID,
    Actors,
    assert_balance_invariant,
    commit_all,
    commitment,
    events,
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
from web3.logs import DISCARD

from oracle.chain.views import DrawFailure, FailureReason, Phase, SlashReason, TaskStatus

BASE = bytes.fromhex("0123456789abcdef" * 4)


@pytest.fixture
def people(accounts: list[LocalAccount]) -> list[str]:
    return [a.address for a in accounts]


def lane0(value: int) -> bytes:
    """A digest whose lane 0 (most significant 64 bits) is `value`, other lanes zero."""
    return (value << 192).to_bytes(32, "big")


def hamming(a: bytes, b: bytes) -> int:
    return bin(int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).count("1")


def must_revert(fn: Any, sender: str, name: str) -> None:
    """`fn` from `sender` reverts with custom error `name` (checked by a call at the pending block)
    and, sent anyway, is mined as a failed transaction that changes nothing."""
    with reverts(name):
        fn.call({"from": sender}, block_identifier="pending")
    receipt = fn.w3.eth.wait_for_transaction_receipt(
        fn.transact({"from": sender, "gas": 2_000_000})
    )
    assert receipt["status"] == 0


# ------------------------------------------------------------------------------------------------
# FINDING 1 (high, fixed): a minority could get an honest member slashed through the tie-break
# ------------------------------------------------------------------------------------------------

#: Lane-0 values found by a search over TolerantMajority's rule. Honest members are pairwise within
#: the model's default tolerance (8 bits in lane 0): distances 8, 4, 6. The two colluders reveal
#: A (6 from H0 and H1, 10 from H2) and B (6 from A, 10 from every honest digest).
HONEST = [lane0(0xC923), lane0(0x9DC0), lane0(0xD9F3)]
COLLUDERS = [lane0(0xAC01), lane0(0x3439)]


def test_a_minority_of_two_cannot_get_an_honest_member_slashed_in_a_5_committee(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, people: list[str]
) -> None:
    """Found by review (broke promise 1): three honest members whose digests agree pairwise within
    the model's floor and two colluders (a minority). Support: H0 4, H1 4, A 4, H2 3, B 2. The
    tie at 4 goes to the smallest total distance (H0 28, A 28, H1 30), then to the smallest value:
    A. "Agrees with the winner" is not transitive: H2 (10 bits from A) used to be slashed as
    Deviated although it agrees with every other honest member. Now a member whose digest agrees
    with a majority of the revealed digests is paid, never slashed."""
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        assert hamming(HONEST[a], HONEST[b]) <= 8  # honest: within the floor, pairwise
    task = request(oracle, actors.requester, size=5)
    digests = dict(zip(task.committee, HONEST + COLLUDERS, strict=True))
    victim = task.committee[2]
    colluders = task.committee[3:]
    commit_all(w3c, oracle, task, digests, task.committee)
    victim_stake = stake_of(oracle, victim)
    receipt = None
    for member in task.committee:
        receipt = reveal(w3c, oracle, task, member, digests[member])

    resolved = events(oracle, receipt, "TaskResolved")[0]
    assert resolved["digest"] == COLLUDERS[0]  # the colluders still pick the result ...
    assert resolved["support"] == 4
    assert victim in resolved["agreeing"]  # ... but the honest member at the edge is paid
    assert set(colluders) <= set(resolved["agreeing"])  # A is the result, B agrees with it
    assert events(oracle, receipt, "OperatorSlashed") == []
    assert stake_of(oracle, victim) == victim_stake
    assert_balance_invariant(oracle, people)


# ------------------------------------------------------------------------------------------------
# FINDING 2 (fixed): a lazy member profited from the expiry rule without doing the work
# ------------------------------------------------------------------------------------------------


def test_a_lazy_member_committing_garbage_earns_nothing_when_peers_are_absent(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, people: list[str]
) -> None:
    """Found by review (weakened promise 2): committedMask is public, so a member who did not run
    the model could watch it and, just before the commit deadline, seeing its peers absent,
    commit a random word it cannot open, and be paid the absent members' slashes when the task
    expires. Now those slashes go to the treasury: committing without working earns nothing."""
    task = request(oracle, actors.requester, size=3)
    lazy, *absent = task.committee
    assert task_info(oracle, task.id)["committed"] == [False, False, False]  # what lazy watches
    send(oracle.functions.commit(task.id, Web3.keccak(text="never computed")), lazy)
    stakes = {m: stake_of(oracle, m) for m in task.committee}
    warp_past(w3c, task.commit_deadline)
    receipt = send(oracle.functions.resolve(task.id), actors.outsider)
    assert events(oracle, receipt, "TaskFailed")[0]["reason"] == FailureReason.EXPIRED
    slashes = sum(stakes[m] * 200 // 10_000 for m in absent)
    assert stake_of(oracle, lazy) == stakes[lazy]
    assert oracle.functions.creditOf(lazy).call() == 0  # nothing for no work
    assert oracle.functions.treasuryBalance().call() == slashes
    assert_balance_invariant(oracle, people)


# ------------------------------------------------------------------------------------------------
# FINDING 3 (fixed): an absent committee escaped its no-commit slash if nobody drew in time
# ------------------------------------------------------------------------------------------------


def test_an_absent_committee_is_slashed_even_when_nobody_draws_before_the_deadline(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, people: list[str]
) -> None:
    """Found by review: the committee is known (committeeOf) from the block after the request and
    weights are frozen, yet a draw after the commit deadline used to fail (and nobody was
    slashed), so a whole lazy committee escaped its no-commit slash on a quiet chain. Now the
    late draw assigns the committee and the non-committers are slashed."""
    task = request(oracle, actors.requester, size=3, drawn=False)
    preview, _ = oracle.functions.committeeOf(task.id).call(block_identifier="pending")
    assert len(preview) == 3
    stakes = {m: stake_of(oracle, m) for m in preview}
    warp_past(w3c, task.commit_deadline)
    receipt = send(oracle.functions.resolve(task.id), actors.outsider)
    assert list(events(oracle, receipt, "CommitteeDrawn")[0]["committee"]) == list(preview)
    assert events(oracle, receipt, "TaskFailed")[0]["reason"] == FailureReason.EXPIRED
    slashed = {e["operator"]: e["amount"] for e in events(oracle, receipt, "OperatorSlashed")}
    assert slashed == {m: stakes[m] * 200 // 10_000 for m in preview}
    assert_balance_invariant(oracle, people)


# ------------------------------------------------------------------------------------------------
# Attacks that do not work
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("change", ["stop_serving", "pause", "exit_outsider", "exit_member"])
def test_holds_weight_changes_not_covered_elsewhere_drain_the_draw_first(
    w3c: Web3,
    oracle: Contract,
    operators: list[str],
    actors: Actors,
    people: list[str],
    change: str,
) -> None:
    """stopServingModel, pauseAssignments and requestExit (the paths test_f3 does not run) first
    draw the waiting task with the weights of its request block. A drawn member cannot exit
    (OpenAssignments) and its failed exit does not undo or change the draw."""
    task = request(oracle, actors.requester, size=3, drawn=False)
    preview, entropy = oracle.functions.committeeOf(task.id).call(block_identifier="pending")
    outsiders = [o for o in operators if o not in preview]
    fn = oracle.functions
    if change == "exit_member":
        must_revert(fn.requestExit(), preview[0], "OpenAssignments")
        receipt = send(fn.drawCommittees(16), actors.outsider)
    else:
        who = preview[0] if change in ("stop_serving", "pause") else outsiders[0]
        call = {
            "stop_serving": fn.stopServingModel(MODEL_ID),
            "pause": fn.pauseAssignments(),
            "exit_outsider": fn.requestExit(),
        }[change]
        receipt = send(call, who)
    drawn = events(oracle, receipt, "CommitteeDrawn")
    assert [e["taskId"] for e in drawn] == [task.id]
    assert list(drawn[0]["committee"]) == list(preview) and drawn[0]["entropy"] == entropy
    assert_balance_invariant(oracle, people)


def test_holds_slash_in_settle_drains_the_waiting_draw_before_the_slash(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, people: list[str]
) -> None:
    """A resolution that slashes changes weights: the waiting task is drawn in the same
    transaction, before the first OperatorSlashed, with the previewed committee."""
    task = request(oracle, actors.requester, size=3)
    far = bytes(32)
    digests = {m: BASE for m in task.committee}
    deviator = task.committee[0]
    digests[deviator] = far
    commit_all(w3c, oracle, task, digests, task.committee)
    reveal(w3c, oracle, task, task.committee[1], BASE)
    reveal(w3c, oracle, task, task.committee[2], BASE)
    waiting = request(oracle, actors.requester, size=5, drawn=False)
    preview, _ = oracle.functions.committeeOf(waiting.id).call(block_identifier="pending")
    receipt = reveal(w3c, oracle, task, deviator, far)  # resolves and slashes
    drawn = oracle.events.CommitteeDrawn().process_receipt(receipt, errors=DISCARD)
    slashed = oracle.events.OperatorSlashed().process_receipt(receipt, errors=DISCARD)
    assert [e["args"]["taskId"] for e in drawn] == [waiting.id]
    assert list(drawn[0]["args"]["committee"]) == list(preview)
    assert [e["args"]["operator"] for e in slashed] == [deviator]
    assert drawn[0]["logIndex"] < slashed[0]["logIndex"]
    assert_balance_invariant(oracle, people)


def test_holds_backlog_is_bounded_and_drained_by_the_next_block(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, people: list[str]
) -> None:
    """16 size-7 requests in one block fill the backlog: a 17th in that block reverts
    (DrawBacklogFull). In the next block any weight change draws all 16 first; what it pays is
    bounded (printed) and leaves room under the 2^24 transaction cap beside a 10M callback."""
    fee = required_fee(oracle, 7)
    fn = oracle.functions.requestGeneration(MODEL_ID, b"{}", 7, 0xFFFFFFFF, 0)
    rpc(w3c, "evm_setAutomine", [False])
    try:
        hashes = [
            fn.transact({"from": actors.requester, "value": fee, "gas": 500_000}) for _ in range(17)
        ]
        rpc(w3c, "evm_mine", [])
    finally:
        rpc(w3c, "evm_setAutomine", [True])
    statuses = [w3c.eth.get_transaction_receipt(h)["status"] for h in hashes]
    assert statuses == [1] * 16 + [0]
    receipt = send(oracle.functions.addStake(), operators[0], ETHER)
    assert len(events(oracle, receipt, "CommitteeDrawn")) == 16
    print("gas of a top-up that draws 16 seven-member committees:", receipt["gasUsed"])
    assert receipt["gasUsed"] < (1 << 24) - 10_000_000 - 1_000_000
    assert oracle.functions.drawnThrough().call() == oracle.functions.taskCount().call()
    assert_balance_invariant(oracle, people)


def test_holds_stale_randomness_refunds_and_slashes_nobody(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, people: list[str]
) -> None:
    """Nobody draws within 256 blocks (and before the deadline): the preview disappears, a
    member's late commit cannot draw a different committee, and the task is refunded."""
    task = request(oracle, actors.requester, size=3, drawn=False)
    preview, _ = oracle.functions.committeeOf(task.id).call(block_identifier="pending")
    rpc(w3c, "anvil_mine", [hex(257), hex(0)])
    assert list(oracle.functions.committeeOf(task.id).call()) == [[], bytes(32)]
    must_revert(oracle.functions.commit(task.id, b"\x01" * 32), preview[0], "WrongPhase")
    receipt = send(oracle.functions.drawCommittees(16), actors.outsider)
    assert events(oracle, receipt, "CommitteeNotDrawn")[0]["reason"] == DrawFailure.STALE_RANDOMNESS
    assert oracle.functions.taskPhase(task.id).call() == Phase.RESOLVABLE
    credit = oracle.functions.creditOf(actors.requester).call()
    receipt = send(oracle.functions.resolve(task.id), actors.outsider)
    assert events(oracle, receipt, "OperatorSlashed") == []
    assert oracle.functions.creditOf(actors.requester).call() == credit + task.fee
    assert_balance_invariant(oracle, people)


def test_holds_batch_opening_naming_another_operator_is_refused(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, people: list[str]
) -> None:
    """An opening that names a non-member (or another member) for a position is refused, so an
    outsider cannot reveal someone's commitment as another position's; a duplicate position in
    one batch is skipped, not counted twice."""
    task = request(oracle, actors.requester, size=3)
    commit_all(w3c, oracle, task, dict.fromkeys(task.committee, BASE), task.committee)
    m0, m1, _ = task.committee
    outsider_op = next(o for o in operators if o not in task.committee)
    bad = [(0, outsider_op, BASE, salt_for(task.id, m0))]
    must_revert(oracle.functions.revealBatch(task.id, bad), actors.outsider, "NotCommitteeMember")
    swapped = [(0, m1, BASE, salt_for(task.id, m1))]
    must_revert(
        oracle.functions.revealBatch(task.id, swapped), actors.outsider, "NotCommitteeMember"
    )
    dup = [(0, m0, BASE, salt_for(task.id, m0)), (0, m0, BASE, salt_for(task.id, m0))]
    receipt = send(oracle.functions.revealBatch(task.id, dup), actors.outsider)
    assert len(events(oracle, receipt, "DigestRevealed")) == 1
    rest = [(p, m, BASE, salt_for(task.id, m)) for p, m in enumerate(task.committee)]
    receipt = send(oracle.functions.revealBatch(task.id, rest), actors.outsider)
    assert events(oracle, receipt, "TaskResolved")[0]["support"] == 3
    assert_balance_invariant(oracle, people)


# ------------------------------------------------------------------------------------------------
# Reentrancy from a consumer callback (attacker contract compiled here, no contract file added)
# ------------------------------------------------------------------------------------------------

REENTRANT_SOURCE = r"""
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;
interface IOracle {
    function requestGeneration(bytes32, bytes calldata, uint8, uint32, uint32)
        external payable returns (uint256);
    function drawCommittees(uint256) external returns (uint256);
    function register(string calldata, bytes32[] calldata) external payable;
    function serveModel(bytes32) external;
    function stopServingModel(bytes32) external;
    function commit(uint256, bytes32) external;
    function claim() external;
}
contract ReentrantOperatorConsumer {
    IOracle public immutable oracle;
    bytes32 public immutable model;
    bool public drewOk; bool public requestOk; bool public serveOk; bool public registerOk;
    bool public commitOk; bool public claimOk; uint256 public calls;
    uint256 public commitTask;
    constructor(IOracle o, bytes32 m) { oracle = o; model = m; }
    function request(uint8 size, uint32 gasLimit) external payable returns (uint256) {
        return oracle.requestGeneration{value: msg.value}(
            model, "{}", size, type(uint32).max, gasLimit);
    }
    function registerSelf() external payable {
        oracle.register{value: msg.value}("http://reentrant", new bytes32[](0));
    }
    function setCommitTask(uint256 t) external { commitTask = t; }
    function _reenter() internal {
        calls += 1;
        (drewOk,) = address(oracle).call(abi.encodeCall(IOracle.drawCommittees, (16)));
        (commitOk,) = address(oracle).call(
            abi.encodeCall(IOracle.commit, (commitTask, bytes32(uint256(1)))));
        (requestOk,) = address(oracle).call{value: 3e15}(abi.encodeCall(
            IOracle.requestGeneration, (model, "{}", 3, type(uint32).max, 0)));
        (serveOk,) = address(oracle).call(abi.encodeCall(IOracle.serveModel, (model)));
        (registerOk,) = address(oracle).call{value: 1 ether}(abi.encodeCall(
            IOracle.register, ("http://again", new bytes32[](0))));
        (claimOk,) = address(oracle).call(abi.encodeCall(IOracle.claim, ()));
    }
    function onGenerationVerified(uint256, bytes32) external { _reenter(); }
    function onGenerationFailed(uint256, uint8) external { _reenter(); }
    receive() external payable {}
}
"""


@pytest.fixture(scope="module")
def reentrant_artifact() -> dict[str, Any]:
    import solcx

    from deploy.compile import PROJECT_ROOT, SHIM

    out = solcx.compile_standard(
        {
            "language": "Solidity",
            "sources": {"Reentrant.sol": {"content": REENTRANT_SOURCE}},
            "settings": {
                "optimizer": {"enabled": True, "runs": 200},
                "evmVersion": "cancun",
                "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
            },
        },
        solc_binary=SHIM,
        base_path=PROJECT_ROOT,
    )
    compiled = out["contracts"]["Reentrant.sol"]["ReentrantOperatorConsumer"]
    return {"abi": compiled["abi"], "bytecode": "0x" + compiled["evm"]["bytecode"]["object"]}


def test_holds_reentrancy_from_callback_into_draw_request_serve_register_commit(
    w3c: Web3,
    oracle: Contract,
    operators: list[str],
    actors: Actors,
    people: list[str],
    reentrant_artifact: dict[str, Any],
) -> None:
    """A consumer that is also an operator re-enters from its callback: drawCommittees draws the
    waiting task with its previewed committee, requestGeneration and serveModel (a weight change,
    which drains first) work on consistent state, register and claim hit the reentrancy lock, and
    a commit to a task it is not on fails. The balance invariant holds throughout."""
    factory = w3c.eth.contract(
        abi=reentrant_artifact["abi"], bytecode=reentrant_artifact["bytecode"]
    )
    tx = factory.constructor(oracle.address, MODEL_ID).transact({"from": actors.owner})
    consumer = w3c.eth.contract(
        address=w3c.eth.wait_for_transaction_receipt(tx)["contractAddress"],
        abi=reentrant_artifact["abi"],
    )
    w3c.eth.wait_for_transaction_receipt(
        w3c.eth.send_transaction({"from": actors.owner, "to": consumer.address, "value": 5 * ETHER})
    )
    send(consumer.functions.registerSelf(), actors.owner, ETHER)
    fee = required_fee(oracle, 3, 1_000_000)
    receipt = send(consumer.functions.request(3, 1_000_000), actors.owner, fee)
    own = requested(oracle, receipt)
    task_id = own.id
    send(oracle.functions.drawCommittees(16), actors.outsider)
    committee, _ = oracle.functions.committeeOf(task_id).call()

    waiting = request(oracle, actors.requester, size=3, drawn=False)
    preview, _ = oracle.functions.committeeOf(waiting.id).call(block_identifier="pending")
    send(consumer.functions.setCommitTask(waiting.id), actors.owner)

    commit_all(w3c, oracle, own, dict.fromkeys(committee, BASE), committee)
    receipt = None
    for member in committee:
        receipt = reveal(w3c, oracle, own, member, BASE)
    assert events(oracle, receipt, "CallbackCompleted")[0]["success"] is True
    assert consumer.functions.calls().call() == 1
    assert consumer.functions.drewOk().call() is True
    assert consumer.functions.requestOk().call() is True
    assert consumer.functions.serveOk().call() is True
    assert consumer.functions.registerOk().call() is False  # desk nonReentrant (shared lock)
    assert consumer.functions.claimOk().call() is False
    assert consumer.functions.commitOk().call() is False  # not a member
    assert task_info(oracle, waiting.id)["committee"] == list(preview)
    assert oracle.functions.drawWeight(consumer.address, MODEL_ID).call() == ETHER // 10**9
    assert_balance_invariant(oracle, [*people, consumer.address])


# ------------------------------------------------------------------------------------------------
# Storage layout of the delegatecall pair
# ------------------------------------------------------------------------------------------------


def test_holds_operator_desk_storage_is_a_prefix_of_the_oracles() -> None:
    """The desk runs by delegatecall in the oracle's storage: its layout must equal the oracle's
    first slots exactly (same labels, slots, offsets and types)."""
    import solcx

    from deploy.compile import PROJECT_ROOT, SHIM, standard_input

    source_input = standard_input()
    source_input["settings"] = {
        "optimizer": {"enabled": False},
        "evmVersion": "cancun",
        "outputSelection": {
            "contracts/GenerationOracle.sol": {"GenerationOracle": ["storageLayout"]},
            "contracts/operators/OperatorDesk.sol": {"OperatorDesk": ["storageLayout"]},
        },
    }
    out = solcx.compile_standard(source_input, solc_binary=SHIM, base_path=PROJECT_ROOT)

    def layout(source: str, name: str) -> list[tuple[str, str, int, str]]:
        data = out["contracts"][source][name]["storageLayout"]
        return [
            (s["label"], s["slot"], s["offset"], json.dumps(data["types"][s["type"]]["label"]))
            for s in data["storage"]
        ]

    oracle_layout = layout("contracts/GenerationOracle.sol", "GenerationOracle")
    desk_layout = layout("contracts/operators/OperatorDesk.sol", "OperatorDesk")
    assert desk_layout and oracle_layout[: len(desk_layout)] == desk_layout


def test_holds_committed_majority_cannot_be_reached_by_copying(
    w3c: Web3, oracle: Contract, operators: list[str], actors: Actors, people: list[str]
) -> None:
    """A member copies a peer's commitment word (it sees it on chain): it cannot open it, so it is
    slashed NotRevealed; the honest pair resolves and is paid."""
    task = request(oracle, actors.requester, size=3)
    honest, copier, other = task.committee
    c = commitment(w3c, oracle, task.id, honest, BASE, salt_for(task.id, honest))
    send(oracle.functions.commit(task.id, c), honest)
    send(oracle.functions.commit(task.id, c), copier)
    commit_all(w3c, oracle, task, {other: BASE}, [other])
    must_revert(
        oracle.functions.reveal(task.id, BASE, salt_for(task.id, honest)),
        copier,
        "CommitmentMismatch",
    )
    reveal(w3c, oracle, task, honest, BASE)
    reveal(w3c, oracle, task, other, BASE)
    warp_past(w3c, task.reveal_deadline)
    receipt = send(oracle.functions.resolve(task.id), actors.outsider)
    slashed = events(oracle, receipt, "OperatorSlashed")
    assert [(e["operator"], e["reason"]) for e in slashed] == [(copier, SlashReason.NOT_REVEALED)]
    assert task_info(oracle, task.id)["status"] == TaskStatus.RESOLVED
    assert_balance_invariant(oracle, people)
