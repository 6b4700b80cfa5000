"""The audited mode on a real Anvil chain: one executor, two auditors who recompute a challenged
part. The honest path, and the attacks the mode must stop: a lazy executor, a copying auditor, a
withholding executor, a predicted challenge, no-shows; the balance invariant after each."""

from __future__ import annotations

from typing import Any

import pytest
from contract_testlib import (
    ETHER,
    EVIDENCE_WITHHELD,
    Actors,
    AuditedClient,
    AuditedTask,
    assert_audited_invariant,
    audited_challenge,
    audited_consumer,
    audited_digest,
    config_of,
    digest_with_flips,
    make_commitment,
    mine,
    reverts,
    send,
    stake_of,
    warp_past,
)
from eth_abi import encode
from web3 import Web3
from web3.contract import Contract

from deploy.artifacts import load_artifact
from deploy.deployer import Deployment, audited_at
from inference.audit.merkle import Commitment
from oracle.chain.audited import paid_members

RESULT = bytes.fromhex("ab" * 32)
RESOLVED, REJECTED, EXPIRED = 4, 5, 7
OUTVOTED, WITHHELD_REASON, NOT_SUBMITTED = 5, 6, 2
SLASH_NOT_SUBMITTED, SLASH_NOT_REVEALED, SLASH_DEVIATED, SLASH_WITHHELD = 1, 3, 4, 5


@pytest.fixture
def audited(oracle: Contract, oracle_deployment: Deployment) -> Contract:
    assert oracle_deployment.audited is not None
    return audited_at(oracle.w3, oracle_deployment.audited)


@pytest.fixture
def client(audited: Contract) -> AuditedClient:
    return AuditedClient(audited)


def paid(resolved: Any, task: AuditedTask) -> list[str]:
    """The members an AuditResolved log paid, by address."""
    return paid_members(resolved["paidMask"], [task.executor, *task.auditors])


def people(actors: Actors, *extra: str) -> list[str]:
    return [*actors.operators, actors.requester, actors.outsider, actors.owner, *extra]


def executing(client: AuditedClient, actors: Actors, **kwargs: Any) -> AuditedTask:
    task = client.request(actors.requester, **kwargs)
    return client.draw(task, actors.outsider)


def submitted(
    client: AuditedClient, actors: Actors, commitment: Commitment, **kwargs: Any
) -> AuditedTask:
    """A task whose executor submitted and whose auditors a keeper drew (a later block)."""
    task = executing(client, actors, **kwargs)
    client.submit(task, RESULT, commitment)
    return client.draw(task, actors.outsider)


def honest_digest(client: AuditedClient, task: AuditedTask, honest: Commitment) -> bytes:
    """What an honest auditor recomputes: the honest sketch of the challenged leaf."""
    indices = client.challenge(task, honest.sketch_tree.size)
    return audited_digest(list(honest.sketches), indices)


def test_honest_path_pays_everyone_and_calls_back(
    w3c: Web3, oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    consumer = audited_consumer(client, actors.owner)
    fee = client.required_fee(2, 100_000)
    model = Web3.keccak(text="test-model")
    receipt = send(
        consumer.functions.request(model, b'{"prompt":"cat"}', 2, 0xFFFFFFFF, 100_000),
        actors.requester,
        fee,
    )
    event = client.event(receipt, "AuditTaskRequested")[0]
    task = client.draw(AuditedTask(id=event["taskId"], fee=fee, receipt=receipt), actors.outsider)
    assert task.executor in operators and task.auditors is None

    honest = make_commitment(20)
    receipt = client.submit(task, RESULT, honest)
    # Public at once, unaudited, in the event; storage keeps one word that seals the submission.
    assert client.event(receipt, "ExecutionSubmitted")[0]["unauditedDigest"] == RESULT
    sealed = Web3.keccak(
        encode(
            ["address", "bytes32", "bytes32", "uint256"],
            [task.executor, RESULT, honest.sketch_tree.root, honest.sketch_tree.size],
        )
    )
    assert client.contract.functions.sealOf(task.id, 0).call() == sealed
    assert client.info(task.id)["resultDigest"] == b"\0" * 32
    client.draw(task, actors.outsider)
    assert task.auditors is not None and len(task.auditors) == 2
    assert task.executor not in task.auditors and len(set(task.auditors)) == 2

    digest = honest_digest(client, task, honest)
    stakes = {m: stake_of(oracle, m) for m in [task.executor, *task.auditors]}
    credits = {m: oracle.functions.creditOf(m).call() for m in stakes}
    for auditor in task.auditors:
        client.commit(task, auditor, digest)
    openings = [client.opening(task, a, digest) for a in task.auditors]
    # Anyone may send the aggregated opening; the resolver gets the callback gas fee.
    resolver_credit = oracle.functions.creditOf(actors.outsider).call()
    receipt = client.open(task, honest, openings, sender=actors.outsider)

    resolved = client.event(receipt, "AuditResolved")[0]
    assert resolved["digest"] == RESULT and resolved["support"] == 3
    assert paid(resolved, task) == [task.executor, *task.auditors]
    member_fee = fee - 100_000 * config_of(oracle)["callbackGasPrice"]
    assert resolved["executorFee"] == member_fee // 2
    assert resolved["auditorFee"] == (member_fee - member_fee // 2) // 2
    assert oracle.functions.creditOf(task.executor).call() - credits[task.executor] == (
        member_fee // 2
    )
    for auditor in task.auditors:
        gained = oracle.functions.creditOf(auditor).call() - credits[auditor]
        assert gained == resolved["auditorFee"]
    assert all(stake_of(oracle, m) == s for m, s in stakes.items())
    assert oracle.functions.creditOf(actors.outsider).call() - resolver_credit == 100_000 * 10**9
    assert client.info(task.id)["resultDigest"] == RESULT
    assert client.contract.functions.resultOf(task.id).call() == RESULT
    assert consumer.functions.verifiedCount().call() == 1
    assert consumer.functions.lastDigest().call() == RESULT
    assert client.event(receipt, "AuditCallbackCompleted")[0]["success"] is True
    assert client.status(task) == RESOLVED
    assert_audited_invariant(oracle, client.contract, people(actors, consumer.address))


def test_lazy_executor_is_outvoted_and_slashed(
    oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    honest = make_commitment(20)
    lazy = make_commitment(20, tag="lazy: 10 of 20 steps")
    task = submitted(client, actors, lazy)
    assert task.auditors is not None
    digest = honest_digest(client, task, honest)
    # Honest hardware noise within the tolerance (lane 0: 8 bits) still agrees.
    noisy = digest_with_flips(digest, 0, 3)
    executor_stake = stake_of(oracle, task.executor)
    before = oracle.functions.creditOf(actors.requester).call()
    client.commit(task, task.auditors[0], digest)
    client.commit(task, task.auditors[1], noisy)
    openings = [
        client.opening(task, task.auditors[0], digest),
        client.opening(task, task.auditors[1], noisy),
    ]
    receipt = client.open(task, lazy, openings)

    failed = client.event(receipt, "AuditFailed")[0]
    assert failed["reason"] == OUTVOTED
    (slashed,) = client.event(receipt, "AuditSlashed")
    assert slashed["operator"] == task.executor and slashed["reason"] == SLASH_DEVIATED
    assert slashed["amount"] == executor_stake // 10
    assert stake_of(oracle, task.executor) == executor_stake - slashed["amount"]
    for auditor in task.auditors:
        assert oracle.functions.creditOf(auditor).call() >= slashed["amount"] // 2
    assert oracle.functions.creditOf(actors.requester).call() - before == task.fee
    assert client.status(task) == REJECTED
    assert client.contract.functions.resultOf(task.id).call() == b"\0" * 32
    assert_audited_invariant(oracle, client.contract, people(actors))


def test_copying_auditor_cannot_see_sketches_nor_reuse_a_commitment(
    w3c: Web3, oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    honest = make_commitment(20)
    task = submitted(client, actors, honest)
    assert task.auditors is not None
    first, copier = task.auditors
    digest = honest_digest(client, task, honest)
    # Before the auditors committed, the executor's sketches cannot be opened: only the salted
    # root is public, so there is nothing to copy.
    with reverts("AuditWrongPhase"):
        client.open(task, honest)
    client.commit(task, first, digest)
    # The copier takes the first auditor's commitment from its commit transaction's calldata
    # and commits it as its own.
    copied = client.commitment(task, first, digest)
    position = client.position(task, copier)
    send(client.contract.functions.commitAudit(task.id, position, copied), copier)
    # The copy does not open: a commitment binds its auditor's address.
    stolen = (position, copier, digest, bytes(Web3.keccak(text=f"salt/{task.id}/{first}")))
    with reverts("AuditCommitmentMismatch"):
        client.reveal(task, [stolen], copier)
    # Nor under the first auditor's name: the chain binds each commitment to its committer.
    first_opening = client.opening(task, first, digest)
    with reverts("AuditCommitmentMismatch"):
        client.reveal(task, [(position, *first_opening[1:])], copier)
    copier_stake = stake_of(oracle, copier)
    client.open(task, honest, [first_opening])
    warp_past(w3c, task.reveal_deadline)
    receipt = client.resolve(task, actors.outsider)
    resolved = client.event(receipt, "AuditResolved")[0]
    assert resolved["support"] == 2 and copier not in paid(resolved, task)
    (slashed,) = client.event(receipt, "AuditSlashed")
    assert slashed["operator"] == copier and slashed["reason"] == SLASH_NOT_REVEALED
    assert stake_of(oracle, copier) == copier_stake - copier_stake // 10
    assert_audited_invariant(oracle, client.contract, people(actors))


def test_withholding_executor_is_slashed_by_the_auditors(
    oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    honest = make_commitment(20)
    task = submitted(client, actors, honest)
    assert task.auditors is not None
    executor_stake = stake_of(oracle, task.executor)
    for auditor in task.auditors:
        client.commit(task, auditor, EVIDENCE_WITHHELD)
    openings = [client.opening(task, a, EVIDENCE_WITHHELD) for a in task.auditors]
    receipt = client.reveal(task, openings[:1], actors.outsider)
    assert not client.event(receipt, "AuditFailed")
    # Even a valid opening does not save it: it did not serve the auditors.
    receipt = client.open(task, honest, openings[1:])
    assert client.event(receipt, "AuditFailed")[0]["reason"] == WITHHELD_REASON
    (slashed,) = client.event(receipt, "AuditSlashed")
    assert slashed["operator"] == task.executor and slashed["reason"] == SLASH_WITHHELD
    assert stake_of(oracle, task.executor) == executor_stake - executor_stake // 10
    for auditor in task.auditors:
        assert oracle.functions.creditOf(auditor).call() == slashed["amount"] // 2
    assert client.status(task) == REJECTED
    assert_audited_invariant(oracle, client.contract, people(actors))


def test_one_auditor_crying_withheld_is_a_deviator(
    oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    honest = make_commitment(20)
    task = submitted(client, actors, honest)
    assert task.auditors is not None
    digest = honest_digest(client, task, honest)
    client.commit(task, task.auditors[0], digest)
    client.commit(task, task.auditors[1], EVIDENCE_WITHHELD)
    openings = [
        client.opening(task, task.auditors[0], digest),
        client.opening(task, task.auditors[1], EVIDENCE_WITHHELD),
    ]
    receipt = client.open(task, honest, openings)
    assert client.event(receipt, "AuditResolved")[0]["support"] == 2
    (slashed,) = client.event(receipt, "AuditSlashed")
    assert slashed["operator"] == task.auditors[1] and slashed["reason"] == SLASH_DEVIATED
    assert_audited_invariant(oracle, client.contract, people(actors))


def test_challenge_comes_from_a_block_the_submission_cannot_know(
    w3c: Web3, oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    honest = make_commitment(20)
    task = executing(client, actors)
    receipt = client.submit(task, RESULT, honest)
    submit_block = receipt["blockNumber"]
    # Inside the submission's block the challenge does not exist yet (no hash for that block).
    index, seed = client.contract.functions.challengeOf(task.id, 20).call(
        block_identifier=submit_block
    )
    assert bytes(seed) == b"\0" * 32 and index == 0
    with reverts("AuditWrongPhase"):  # nobody can commit before the auditors can be drawn
        client.contract.functions.commitAudit(task.id, 1, b"\1" * 32).call(
            {"from": actors.outsider}, block_identifier=submit_block
        )
    mine(w3c)
    # One block later it is the hash of the submission's block, mixed with the task id.
    block_hash = bytes(w3c.eth.get_block(submit_block)["hash"])
    entropy = Web3.keccak(encode(["bytes32", "uint256"], [block_hash, task.id]))
    # The seed is 32 bits of its hash (the task's word keeps it once the auditors are drawn).
    expected_seed = b"\0" * 28 + Web3.keccak(encode(["bytes32"], [entropy]))[-4:]
    index, seed = client.contract.functions.challengeOf(task.id, 20).call()
    assert bytes(seed) == bytes(expected_seed)
    assert index == audited_challenge(bytes(expected_seed), 20)
    for leaves in (1, 3, 1000):
        small, _ = client.contract.functions.challengeOf(task.id, leaves).call()
        assert small == audited_challenge(bytes(expected_seed), leaves) < leaves
    receipt = send(client.contract.functions.drawAudits(), actors.outsider)
    drawn = client.event(receipt, "AuditorsDrawn")[0]
    assert client.contract.functions.challengeOf(task.id, 20).call()[1] == bytes(expected_seed)
    assert task.executor not in drawn["auditors"]


def test_an_executor_opening_after_the_draw_blocks_hash_is_gone_is_still_judged(
    w3c: Web3, oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    """A failing peer on a fast chain: one auditor never commits, so the honest executor must
    wait for the commit deadline, by which time more than 256 blocks have passed and blockhash
    has forgotten the block the challenge came from. The challenge seed is kept by the auditors'
    draw, so the executor still opens its challenged sketches and is not slashed for its peer;
    the auditor who did not commit is."""
    honest = make_commitment(20)
    task = submitted(client, actors, honest)
    assert task.auditors is not None
    indices_then = client.challenge(task, 20)
    present, absent = task.auditors
    client.commit(task, present, audited_digest(list(honest.sketches), indices_then))
    w3c.provider.make_request("anvil_mine", [300])  # type: ignore[arg-type]
    warp_past(w3c, task.commit_deadline)
    assert client.challenge(task, 20) == indices_then
    stake = stake_of(oracle, task.executor)
    digest = audited_digest(list(honest.sketches), indices_then)
    receipt = client.open(task, honest, [client.opening(task, present, digest)])
    resolved = client.event(receipt, "AuditResolved")[0]
    assert resolved["digest"] == RESULT and paid(resolved, task) == [task.executor, present]
    (slashed,) = client.event(receipt, "AuditSlashed")
    assert slashed["operator"] == absent
    assert stake_of(oracle, task.executor) == stake
    assert_audited_invariant(oracle, client.contract, people(actors))


def test_a_weight_change_first_draws_the_ready_auditors(
    oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    honest = make_commitment(20)
    task = executing(client, actors)
    client.submit(task, RESULT, honest)
    # Frozen weights: a top-up after the submission's block draws the auditors first, with the
    # weights in force when their randomness appeared.
    receipt = send(oracle.functions.addStake(), actors.operators[0], 50 * ETHER)
    drawn = client.event(receipt, "AuditorsDrawn")
    assert len(drawn) == 1 and drawn[0]["taskId"] == task.id
    assert_audited_invariant(oracle, client.contract, people(actors))


def test_executor_no_show_refunds_and_slashes_no_auditor_drawn(
    w3c: Web3, oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    task = executing(client, actors)
    stake = stake_of(oracle, task.executor)
    before = oracle.functions.creditOf(actors.requester).call()
    with reverts("AuditWrongPhase"):
        client.resolve(task, actors.outsider)
    warp_past(w3c, task.submit_deadline)
    with reverts("AuditWrongPhase"):  # too late to submit
        client.submit(task, RESULT, make_commitment(4))
    receipt = client.resolve(task, actors.outsider)
    assert client.event(receipt, "AuditFailed")[0]["reason"] == NOT_SUBMITTED
    (slashed,) = client.event(receipt, "AuditSlashed")
    assert slashed["reason"] == SLASH_NOT_SUBMITTED and slashed["amount"] == stake * 200 // 10_000
    assert not client.event(receipt, "AuditorsDrawn")
    info = client.info(task.id)
    assert all(int(m, 16) == 0 for m in info["members"][1:])
    assert oracle.functions.creditOf(actors.requester).call() - before == task.fee
    assert client.status(task) == EXPIRED
    assert all(oracle.functions.getOperator(o).call()[5] == 0 for o in operators)
    assert_audited_invariant(oracle, client.contract, people(actors))


def test_auditor_no_show_after_commit_is_slashed_committers_are_not(
    w3c: Web3, oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    honest = make_commitment(20)
    task = submitted(client, actors, honest)
    assert task.auditors is not None
    digest = honest_digest(client, task, honest)
    for auditor in task.auditors:
        client.commit(task, auditor, digest)
    client.open(task, honest, [client.opening(task, task.auditors[0], digest)])
    with reverts("AuditWrongPhase"):
        client.resolve(task, actors.outsider)
    warp_past(w3c, task.reveal_deadline)
    receipt = client.resolve(task, actors.outsider)
    resolved = client.event(receipt, "AuditResolved")[0]
    assert paid(resolved, task) == [task.executor, task.auditors[0]]
    (slashed,) = client.event(receipt, "AuditSlashed")
    assert slashed["operator"] == task.auditors[1] and slashed["reason"] == SLASH_NOT_REVEALED
    assert resolved["slashShare"] == slashed["amount"] // 2
    assert_audited_invariant(oracle, client.contract, people(actors))


def test_executor_that_never_opens_is_slashed_when_the_auditors_agree(
    w3c: Web3, oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    honest = make_commitment(20)
    task = submitted(client, actors, honest)
    assert task.auditors is not None
    digest = honest_digest(client, task, honest)
    for auditor in task.auditors:
        client.commit(task, auditor, digest)
    client.reveal(task, [client.opening(task, a, digest) for a in task.auditors], actors.outsider)
    warp_past(w3c, task.reveal_deadline)
    receipt = client.resolve(task, actors.outsider)
    assert client.event(receipt, "AuditFailed")[0]["reason"] == OUTVOTED
    (slashed,) = client.event(receipt, "AuditSlashed")
    assert slashed["operator"] == task.executor and slashed["reason"] == SLASH_NOT_REVEALED
    assert_audited_invariant(oracle, client.contract, people(actors))


def test_forged_openings_and_outsiders_are_refused(
    oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    honest = make_commitment(20)
    task = submitted(client, actors, honest)
    assert task.auditors is not None
    digest = honest_digest(client, task, honest)
    with reverts("AuditNotAuditor"):
        send(client.contract.functions.commitAudit(task.id, 1, b"\1" * 32), task.executor)
    for auditor in task.auditors:
        client.commit(task, auditor, digest)
    executor, result, root, count, sketch, secret, proof = client.sketch_opening(task, honest)
    forged = bytes.fromhex("01" * 32)  # a sketch that is not in the committed tree
    with reverts("AuditInvalidProof"):
        client.open(task, honest, opening=(executor, result, root, count, forged, secret, proof))
    with reverts("AuditSubmissionMismatch"):
        client.open(
            task, honest, opening=(executor, result, root, count + 1, sketch, secret, proof)
        )
    host = oracle.w3.eth.contract(address=oracle.address, abi=load_artifact("IAuditHost")["abi"])
    with reverts("AuditHostOnlyAudited"):
        host.functions.auditDraw(0, b"\1" * 32, 1, 0).call({"from": actors.outsider})
    with reverts("AuditAttachRefused"):
        host.functions.attachAuditedTasks(client.contract.address).call({"from": actors.owner})
    with reverts("AuditOnlyOracle"):
        client.contract.functions.drawReadyAudits().call({"from": actors.outsider})
    with reverts("AuditInvalidAuditors"):
        client.request(actors.requester, auditors=3)
    # The oracle's fallback forwards only the desk's functions: plain ether is still refused.
    with pytest.raises(Exception, match="revert"):
        oracle.w3.eth.call({"from": actors.outsider, "to": oracle.address, "value": 1})
    assert_audited_invariant(oracle, client.contract, people(actors))


def test_four_auditors_one_lazy_auditor_is_slashed(
    oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    honest = make_commitment(7)
    task = submitted(client, actors, honest, auditors=4)
    assert task.auditors is not None and len(task.auditors) == 4
    assert task.executor not in task.auditors and len(set(task.auditors)) == 4
    digest = honest_digest(client, task, honest)
    lazy = digest_with_flips(digest, 2, 20)  # far outside the tolerance of lane 2 (0 bits)
    digests = {a: digest for a in task.auditors} | {task.auditors[3]: lazy}
    for auditor in task.auditors:
        client.commit(task, auditor, digests[auditor])
    openings = [client.opening(task, a, digests[a]) for a in task.auditors]
    receipt = client.open(task, honest, openings, sender=actors.outsider)
    resolved = client.event(receipt, "AuditResolved")[0]
    assert resolved["support"] == 4 and task.auditors[3] not in paid(resolved, task)
    (slashed,) = client.event(receipt, "AuditSlashed")
    assert slashed["operator"] == task.auditors[3] and slashed["reason"] == SLASH_DEVIATED
    assert_audited_invariant(oracle, client.contract, people(actors))


def test_request_needs_enough_operators_for_executor_and_auditors(
    oracle: Contract, client: AuditedClient, actors: Actors, model: bytes
) -> None:
    for operator in actors.operators[:3]:
        send(oracle.functions.register("http://op.test", [model]), operator, 2 * ETHER)
    client.request(actors.requester, auditors=2)
    with reverts("NotEnoughOperators"):
        client.request(actors.requester, auditors=4)
    with reverts("AuditFeeTooLow"):
        client.request(actors.requester, fee=client.required_fee(2) - 1)


def test_fees_are_escrowed_in_whole_gwei_and_nothing_is_rounded_away(
    oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    """A task's fee shares one storage word with its terms, in gwei. A requester who sends wei
    that a gwei count cannot hold is refused (none of it would be lost to rounding); a fee above
    the required one in whole gwei is escrowed exactly, and the required fee is whole gwei."""
    required = client.required_fee(2, callback_gas=12_345)
    assert required % 10**9 == 0
    with reverts("AuditFeeNotWholeGwei"):
        client.request(actors.requester, fee=required + 1)
    task = client.request(actors.requester, fee=required + 10**9)
    assert client.contract.functions.getAuditTask(task.id).call()[9] == required + 10**9
    assert_audited_invariant(oracle, client.contract, people(actors))


def test_an_executor_drawn_after_its_deadline_is_not_slashed(
    w3c: Web3, oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    task = client.request(actors.requester)
    warp_past(w3c, task.submit_deadline)  # nobody drew it in time
    stakes = {o: stake_of(oracle, o) for o in operators}
    receipt = client.resolve(task, actors.outsider)
    assert client.event(receipt, "AuditFailed")[0]["reason"] == 1  # NotDrawn
    assert not client.event(receipt, "AuditSlashed")
    assert {o: stake_of(oracle, o) for o in operators} == stakes
    assert oracle.functions.creditOf(actors.requester).call() == task.fee
    assert_audited_invariant(oracle, client.contract, people(actors))


def test_auditors_drawn_after_the_commit_deadline_are_not_slashed(
    w3c: Web3, oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    task = executing(client, actors)
    client.submit(task, RESULT, make_commitment(20))
    warp_past(w3c, task.commit_deadline)  # nobody drew the auditors in time
    receipt = client.resolve(task, actors.outsider)
    assert client.event(receipt, "AuditFailed")[0]["reason"] == 1  # NotDrawn
    assert not client.event(receipt, "AuditSlashed")
    assert_audited_invariant(oracle, client.contract, people(actors))


def test_members_are_known_before_anyone_draws(
    w3c: Web3, oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    task = client.request(actors.requester)
    members = client.contract.functions.membersOf(task.id).call()
    assert all(int(m, 16) == 0 for m in members)  # the request's block hash is not known yet
    mine(w3c)
    predicted = client.contract.functions.membersOf(task.id).call()[0]
    assert predicted in operators
    honest = make_commitment(20)
    client.submit(task.__class__(id=task.id, fee=task.fee, receipt=None), RESULT, honest, predicted)
    assert client.info(task.id)["members"][0] == predicted
    task.result = RESULT
    mine(w3c)
    auditors = client.contract.functions.membersOf(task.id).call()[1:]
    assert predicted not in auditors and all(a in operators for a in auditors)
    task.executor, task.auditors = predicted, list(auditors)
    digest = honest_digest(client, task, honest)
    client.commit(task, auditors[0], digest)  # draws the auditors, as predicted
    assert client.info(task.id)["members"][1:] == auditors


def test_a_reused_slot_never_answers_to_its_old_task_id(
    w3c: Web3, oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    """Task storage is reused: a finished task's slot takes the next request. Its old id (and an
    id forged from the slot with another number) then names nothing: no phase, no result, no
    draw, no commit, no resolution. The new task keeps its own id, challenge and result."""
    honest = make_commitment(20)
    first = submitted(client, actors, honest)
    assert first.auditors is not None
    digest = honest_digest(client, first, honest)
    for auditor in first.auditors:
        client.commit(first, auditor, digest)
    client.open(first, honest, [client.opening(first, a, digest) for a in first.auditors])
    assert client.contract.functions.resultOf(first.id).call() == RESULT
    second = executing(client, actors)
    slot_mask = (1 << 32) - 1
    assert second.id & slot_mask == first.id & slot_mask and second.id > first.id
    assert client.contract.functions.slotCount().call() == 1
    assert client.contract.functions.taskAt(first.id & slot_mask).call() == second.id
    # The old id is gone: nothing to read, nothing to act on.
    assert client.contract.functions.resultOf(first.id).call() == b"\0" * 32
    with reverts("AuditTaskNotFound"):
        client.info(first.id)
    with reverts("AuditWrongPhase"):
        send(client.contract.functions.resolveAudit(first.id), actors.outsider)
    forged = second.id + (7 << 32)  # same slot, another number
    for alias in (first.id, forged):
        with reverts("AuditWrongPhase"):
            client.contract.functions.submitExecution(
                alias, RESULT, honest.evidence.root, honest.sketch_tree.root, 20
            ).call({"from": second.executor})
    client.submit(second, RESULT, honest)
    client.draw(second, actors.outsider)
    assert second.auditors is not None
    auditor = second.auditors[0]
    for alias in (first.id, forged):
        with reverts("AuditWrongPhase"):
            send(client.contract.functions.commitAudit(alias, 1, b"\1" * 32), auditor)
    digest = honest_digest(client, second, honest)
    for member in second.auditors:
        client.commit(second, member, digest)
    receipt = client.open(
        second, honest, [client.opening(second, a, digest) for a in second.auditors]
    )
    assert client.event(receipt, "AuditResolved")[0]["digest"] == RESULT
    assert client.status(second) == RESOLVED
    assert_audited_invariant(oracle, client.contract, people(actors))


def test_the_opening_must_repeat_the_sealed_submission(
    oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    """One storage word seals the submission (executor, result digest, sketch root, leaf count):
    an executor cannot swap its result after the auditors committed, nor can anyone name another
    executor; one proof covers the four leaves, with not one node more or less."""
    honest = make_commitment(20)
    task = submitted(client, actors, honest)
    assert task.auditors is not None
    digest = honest_digest(client, task, honest)
    for auditor in task.auditors:
        client.commit(task, auditor, digest)
    executor, result, root, count, sketch, secret, proof = client.sketch_opening(task, honest)
    swapped = bytes.fromhex("cd" * 32)
    with reverts("AuditSubmissionMismatch"):
        client.open(task, honest, opening=(executor, swapped, root, count, sketch, secret, proof))
    with reverts("AuditSubmissionMismatch"):
        client.open(
            task, honest, opening=(actors.outsider, result, root, count, sketch, secret, proof)
        )
    with reverts("AuditInvalidProof"):
        client.open(
            task, honest, opening=(executor, result, root, count, sketch, secret, [*proof, root])
        )
    with reverts("AuditInvalidProof"):
        client.open(
            task, honest, opening=(executor, result, root, count, sketch, secret, proof[1:])
        )
    other_secret = b"\0" * 32  # the salts derive from the executor's secret: another fails
    with reverts("AuditInvalidProof"):
        client.open(
            task, honest, opening=(executor, result, root, count, sketch, other_secret, proof)
        )
    openings = [client.opening(task, a, digest) for a in task.auditors]
    receipt = client.open(task, honest, openings, sender=actors.outsider)
    assert client.event(receipt, "AuditResolved")[0]["digest"] == RESULT
    assert_audited_invariant(oracle, client.contract, people(actors))


@pytest.mark.parametrize("leaves", [1, 2, 3, 5])
def test_every_tree_size_opens_at_its_challenged_position(
    oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str], leaves: int
) -> None:
    """Small and odd trees (the odd node moves up unpaired): the challenged leaf opens with its
    path, and the path of another position does not prove it."""
    honest = make_commitment(leaves, tag=f"short-{leaves}")
    task = submitted(client, actors, honest)
    assert task.auditors is not None
    digest = honest_digest(client, task, honest)
    for auditor in task.auditors:
        client.commit(task, auditor, digest)
    executor, result, root, count, sketch, secret, _proof = client.sketch_opening(task, honest)
    index = client.challenge(task, leaves)
    for other in range(leaves):
        path = honest.sketch_tree.proof(other)
        if other != index:
            with reverts("AuditInvalidProof"):
                opening = (executor, result, root, count, sketch, secret, path)
                client.open(task, honest, opening=opening)
    openings = [client.opening(task, a, digest) for a in task.auditors]
    receipt = client.open(task, honest, openings)
    assert client.event(receipt, "AuditResolved")[0]["digest"] == RESULT
    assert_audited_invariant(oracle, client.contract, people(actors))


def test_a_second_leaf_claiming_the_challenged_index_does_not_open(
    w3c: Web3, oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    """A grinding executor plants, beside each true sketch leaf, a second leaf claiming the same
    index with another sketch, to open whichever agrees with the auditors once they revealed
    (in its evidence tree the same trick would serve each auditor a different latent).
    Positions 0-3 hold the true leaves of indices 0-3, positions 4-7 planted ones for the same
    indices: only the leaf at the challenged position proves; every planted one is refused, so
    an executor outvoted on its true sketch stays outvoted."""
    from inference.audit.merkle import MerkleTree, leaf_hash, leaf_salt, node_hash, salted_payload

    secret = b"\x42" * 32
    true = [bytes(Web3.keccak(text=f"true/{i}")) for i in range(4)]
    planted = [bytes(Web3.keccak(text=f"planted/{i}")) for i in range(4)]
    sketches = true + planted
    level = tuple(
        leaf_hash(p % 4, salted_payload(sketches[p], leaf_salt(secret, p % 4))) for p in range(8)
    )
    levels = [level]
    while len(level) > 1:
        level = tuple(node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2))
        levels.append(level)
    forged = MerkleTree(tuple(levels))
    evidence = make_commitment(9, tag="planted")
    task = executing(client, actors)
    fn = client.contract.functions.submitExecution(
        task.id, RESULT, evidence.evidence.root, forged.root, 8
    )
    receipt = send(fn, task.executor)
    task.result = RESULT
    task.commit_deadline = client.event(receipt, "ExecutionSubmitted")[0]["commitDeadline"]
    mine(w3c)
    send(client.contract.functions.drawAudits(), actors.outsider)
    task.auditors = list(client.contract.functions.membersOf(task.id).call()[1:])
    index = client.challenge(task, 8)
    claimed = planted[index % 4]  # what the auditors recomputed, the planted sketch
    for auditor in task.auditors:
        client.commit(task, auditor, claimed)
    stake = stake_of(oracle, task.executor)
    for position in range(8):
        if position == index and index < 4:
            continue  # the true leaf at its own position: the executor's one valid opening
        opening = (task.executor, RESULT, forged.root, 8, sketches[position], secret)
        with reverts("AuditInvalidProof"):
            client.open(task, evidence, opening=(*opening, forged.proof(position)))
    if index < 4:  # its true sketch is not what the auditors recomputed: outvoted, slashed
        opening = (task.executor, RESULT, forged.root, 8, true[index], secret)
        receipt = client.open(
            task,
            evidence,
            [client.opening(task, a, claimed) for a in task.auditors],
            opening=(*opening, forged.proof(index)),
        )
        assert client.event(receipt, "AuditFailed")
        assert stake_of(oracle, task.executor) < stake
    assert_audited_invariant(oracle, client.contract, people(actors))


def test_an_executor_faking_half_its_steps_loses_more_than_it_saves(
    oracle: Contract, client: AuditedClient, actors: Actors, operators: list[str]
) -> None:
    """One challenged leaf catches an executor that faked a fraction f of its steps with
    probability about f, and faking saves at most f of the work the fee pays for. Over 12 tasks
    an executor faking every other step (f = 1/2, its saving valued at half the whole fee) ends
    far below an honest one: each catch costs it the slash (10 % of its stake) and the fee."""
    leaves = 8
    secret = bytes(Web3.keccak(text="economics/secret"))
    states = [bytes(Web3.keccak(text=f"economics/state/{i}")) for i in range(leaves)]
    honest_sketches = [bytes(Web3.keccak(text=f"economics/sketch/{i}")) for i in range(leaves)]
    faked = {i for i in range(leaves) if i % 2}
    lazy_sketches = [
        bytes(Web3.keccak(text=f"economics/faked/{i}")) if i in faked else s
        for i, s in enumerate(honest_sketches)
    ]
    honest = Commitment.build(states, honest_sketches, secret)
    lazy = Commitment.build(states, lazy_sketches, secret)

    def payoff(commitment: Commitment) -> tuple[int, bool]:
        """The executor's change in credit and stake over one task, and whether it was caught."""
        task = submitted(client, actors, commitment)
        assert task.auditors is not None
        credit = oracle.functions.creditOf(task.executor).call()
        stake = stake_of(oracle, task.executor)
        digest = honest_digest(client, task, honest)
        for auditor in task.auditors:
            client.commit(task, auditor, digest)
        openings = [client.opening(task, a, digest) for a in task.auditors]
        receipt = client.open(task, commitment, openings)
        change = oracle.functions.creditOf(task.executor).call() - credit
        change += stake_of(oracle, task.executor) - stake
        return change, bool(client.event(receipt, "AuditFailed"))

    honest_pay, caught = payoff(honest)
    assert honest_pay > 0 and not caught
    fee = client.request(actors.requester).fee  # the fee the saving is valued against
    tasks, caught_count, lazy_total = 12, 0, 0
    for _ in range(tasks):
        change, caught = payoff(lazy)
        lazy_total += change + fee * len(faked) // leaves  # plus the work it did not do
        caught_count += caught
    assert 1 <= caught_count < tasks  # caught about half the time: when the leaf is faked
    assert lazy_total < 0 < tasks * honest_pay
    assert_audited_invariant(oracle, client.contract, people(actors))
