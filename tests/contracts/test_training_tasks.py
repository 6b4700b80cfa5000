"""Training tasks on a real Anvil chain: a committee fine-tunes in synchronised rounds, each round
decided by the tolerant majority, the final checkpoint registered as a model. The honest path and
the attacks the contract must stop: a lazy trainer, a copying trainer, no-shows, a requester who
tries to choose the committee, weights changed between request and draw, a round without a
majority, a member grinding the canonical checkpoint, hostile callbacks; the balance invariant
after each."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

import pytest
from contract_testlib import (
    ETHER,
    MODEL_ID,
    Actors,
    AuditedClient,
    as_dict,
    assert_balance_invariant,
    config_of,
    digest_with_flips,
    mine,
    register_model,
    registry,
    reverts,
    send,
    stake_of,
    warp_past,
)
from web3 import Web3
from web3.contract import Contract

from deploy.artifacts import load_artifact
from deploy.deployer import Deployment, audited_at
from deploy.training import ROUND_TOLERANCE_FLOOR, training_at
from oracle.chain.training import (
    CHECKPOINT_WITHHELD_DIGEST,
    INVALID_REQUEST_DIGEST,
    TrainingFailure,
    TrainingPhase,
    TrainingRequest,
    TrainingSlashReason,
    TrainingStatus,
    canonical_position,
    events,
    round_commitment,
    round_opening,
    spec_sha256,
    trained_manifest,
    trained_model_id,
)

DATA = bytes.fromhex("c95fa421" + "00" * 28)
SPEC = b'{"base_model":"digits","batch_size":16,"data_sha256":"c95fa421","rounds":2}'
HONEST = bytes(Web3.keccak(text="honest round digest"))
CALLBACK_GAS = 200_000


def ckpt(member: str, round_index: int, tag: str = "") -> bytes:
    return sha256(f"checkpoint/{member}/{round_index}/{tag}".encode()).digest()


def honest_digest(round_index: int, jitter: int = 0) -> bytes:
    """An honest member's round digest: the round's reference within the floor (4/19/8/11)."""
    base = bytes(Web3.keccak(text=f"honest/{round_index}"))
    return digest_with_flips(base, 1, jitter) if jitter else base


def lazy_digest(round_index: int) -> bytes:
    """Fewer steps: far outside the tolerance in lanes 1 and 3."""
    return digest_with_flips(digest_with_flips(honest_digest(round_index), 1, 30), 3, 30)


@dataclass
class Run:
    id: int
    fee: int
    members: list[str] = field(default_factory=list)
    receipts: list[Any] = field(default_factory=list)


class Driver:
    """Typed calls of TrainingTasks on Anvil (unlocked accounts)."""

    def __init__(self, training: Contract, oracle: Contract) -> None:
        self.c = training
        self.oracle = oracle
        self.w3 = training.w3

    def fee(self, committee: int = 3, rounds: int = 2, callback: int = 0) -> int:
        return int(self.c.functions.requiredFee(committee, rounds, callback).call())

    def request(
        self,
        requester: str,
        committee: int = 3,
        rounds: int = 2,
        callback: int = 0,
        model: bytes = MODEL_ID,
        via: Contract | None = None,
    ) -> Run:
        fee = self.fee(committee, rounds, callback)
        req = TrainingRequest(
            base_model_id=model,
            data_sha256=DATA,
            seed=7,
            rounds=rounds,
            steps_per_round=10,
            committee_size=committee,
            callback_gas_limit=callback,
        ).as_tuple()
        if via is not None:
            fn = via.functions.request(req, SPEC)
        else:
            fn = self.c.functions.requestTraining(req, SPEC)
        receipt = send(fn, requester, fee)
        event = events(self.c, receipt, "TrainingRequested")[0]
        return Run(id=event["taskId"], fee=fee, receipts=[receipt])

    def draw(self, run: Run, sender: str) -> Run:
        send(self.c.functions.drawTraining(), sender)
        run.members = [str(m) for m in self.c.functions.membersOf(run.id).call()]
        return run

    def info(self, run: Run) -> dict[str, Any]:
        return as_dict(self.c, "getTrainingTask", self.c.functions.getTrainingTask(run.id).call())

    def salt(self, run: Run, member: str, round_index: int) -> bytes:
        return bytes(Web3.keccak(text=f"salt/{run.id}/{member}/{round_index}"))

    def commitment(
        self, run: Run, member: str, round_index: int, digest: bytes, checkpoint: bytes
    ) -> bytes:
        return round_commitment(
            self.w3.eth.chain_id,
            self.c.address,
            run.id,
            round_index,
            member,
            digest,
            checkpoint,
            self.salt(run, member, round_index),
        )

    def commit(
        self, run: Run, member: str, round_index: int, digest: bytes, checkpoint: bytes
    ) -> Any:
        value = self.commitment(run, member, round_index, digest, checkpoint)
        fn = self.c.functions.commitRound(run.id, round_index, run.members.index(member), value)
        return send(fn, member)

    def opening(
        self, run: Run, member: str, round_index: int, digest: bytes, checkpoint: bytes
    ) -> tuple[Any, ...]:
        return round_opening(
            run.members.index(member),
            member,
            digest,
            checkpoint,
            self.salt(run, member, round_index),
        )

    def round(
        self,
        run: Run,
        round_index: int,
        work: dict[str, tuple[bytes, bytes]],
        revealers: list[str] | None = None,
        sender: str | None = None,
    ) -> Any:
        """Members in `work` commit; `revealers` (default: all of them) reveal in one batch."""
        for member, (digest, checkpoint) in work.items():
            self.commit(run, member, round_index, digest, checkpoint)
        revealers = list(work) if revealers is None else revealers
        if len(work) < len(run.members):
            warp_past(self.w3, self.info(run)["commitDeadline"])
        if not revealers:
            return None
        openings = [self.opening(run, m, round_index, *work[m]) for m in revealers]
        receipt = send(
            self.c.functions.revealRound(run.id, round_index, openings), sender or revealers[0]
        )
        run.receipts.append(receipt)
        if self.ev(receipt, "RoundResolved") or self.ev(receipt, "TrainingFailed"):
            return receipt
        # The reveal sealed the round in its own block (the commit deadline passed): resolving
        # needs that block's hash, from the next block on.
        if set(revealers) == set(work):
            return self.resolve(run, sender or revealers[0])
        return receipt

    def resolve(self, run: Run, sender: str) -> Any:
        receipt = send(self.c.functions.resolveRound(run.id), sender)
        run.receipts.append(receipt)
        return receipt

    def ev(self, receipt: Any, name: str) -> list[dict[str, Any]]:
        return events(self.c, receipt, name)


@pytest.fixture
def training(oracle: Contract, oracle_deployment: Deployment) -> Contract:
    assert oracle_deployment.training is not None
    return training_at(oracle.w3, oracle_deployment.training)


@pytest.fixture
def driver(training: Contract, oracle: Contract) -> Driver:
    return Driver(training, oracle)


def people(actors: Actors, *extra: str) -> list[str]:
    return [*actors.operators, actors.requester, actors.outsider, actors.owner, *extra]


def assert_invariant(oracle: Contract, training: Contract, who: list[str]) -> None:
    """The oracle holds exactly stakes, escrow, credits and treasury; TrainingTasks holds exactly
    the fees still escrowed by its open tasks."""
    assert_balance_invariant(oracle, who)
    offset = training.functions.TASK_ID_OFFSET().call()
    escrowed = 0
    for n in range(1, training.functions.taskCount().call() + 1):
        info = as_dict(
            training, "getTrainingTask", training.functions.getTrainingTask(offset + n).call()
        )
        if info["status"] in (TrainingStatus.DRAWING, TrainingStatus.TRAINING):
            escrowed += info["fee"]
        else:
            assert info["fee"] == 0
    assert oracle.w3.eth.get_balance(training.address) == escrowed


def credits(oracle: Contract, who: list[str]) -> dict[str, int]:
    return {m: int(oracle.functions.creditOf(m).call()) for m in who}


def deploy_consumer(w3: Web3, training: Contract, owner: str, mode: int) -> Contract:
    artifact = load_artifact("TrainingConsumer")
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(
        factory.constructor(training.address, mode).transact({"from": owner})
    )
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


def honest_work(run: Run, round_index: int) -> dict[str, tuple[bytes, bytes]]:
    return {
        m: (honest_digest(round_index, jitter=i * 3), ckpt(m, round_index))
        for i, m in enumerate(run.members)
    }


# ----------------------------------------------------------------------------------------------
# The honest path, and the registered model
# ----------------------------------------------------------------------------------------------


def test_honest_rounds_register_the_model_and_call_back(
    w3c: Web3,
    oracle: Contract,
    training: Contract,
    driver: Driver,
    actors: Actors,
    operators: list[str],
) -> None:
    consumer = deploy_consumer(w3c, training, actors.owner, 0)
    run = driver.request(actors.requester, rounds=3, callback=CALLBACK_GAS, via=consumer)
    info = driver.info(run)
    assert info["requester"] == consumer.address and info["specHash"] == spec_sha256(SPEC)
    assert info["tolerance"] == ROUND_TOLERANCE_FLOOR
    # Nothing drawn in the request; from the next block the committee is known to everyone.
    assert info["members"] == ["0x" + "00" * 20] * 3
    mine(w3c)
    preview = [str(m) for m in training.functions.membersOf(run.id).call()]
    driver.draw(run, actors.outsider)
    assert run.members == preview and len(set(run.members)) == 3
    assert set(run.members) <= set(operators)

    stakes = {m: stake_of(oracle, m) for m in run.members}
    before = credits(oracle, run.members)
    resolver_before = int(oracle.functions.creditOf(actors.outsider).call())
    member_fee = run.fee - CALLBACK_GAS * config_of(oracle)["callbackGasPrice"]
    paid_total = {m: 0 for m in run.members}
    start = b"\x00" * 32
    for r in range(3):
        info = driver.info(run)
        assert info["round"] == r and info["startCheckpoint"] == start
        assert TrainingPhase(training.functions.phaseOf(run.id).call()) == TrainingPhase.TRAIN
        work = honest_work(run, r)
        receipt = driver.round(run, r, work, sender=actors.outsider)
        resolved = driver.ev(receipt, "RoundResolved")[0]
        assert resolved["round"] == r and list(resolved["paid"]) == run.members
        checkpoints = {p: work[m][1] for p, m in enumerate(run.members)}
        canonical = canonical_position(resolved["randomness"], checkpoints, [0, 1, 2])
        assert resolved["canonicalMember"] == run.members[canonical]
        assert resolved["canonicalCheckpoint"] == checkpoints[canonical]
        assert training.functions.canonicalOf(run.id, r).call() == [
            checkpoints[canonical],
            run.members[canonical],
        ]
        for m in run.members:
            paid_total[m] += resolved["feeEach"]
        start = checkpoints[canonical]
        if r < 2:
            started = driver.ev(receipt, "RoundStarted")[0]
            assert started["round"] == r + 1 and started["startCheckpoint"] == start
    assert sum(paid_total.values()) <= member_fee
    assert member_fee - sum(paid_total.values()) < 3 * 3  # the splits' remainders only

    final = run.receipts[-1]
    completed = driver.ev(final, "TrainingCompleted")[0]
    manifest = trained_manifest(MODEL_ID, DATA, spec_sha256(SPEC), run.id, start)
    assert completed["manifest"].encode() == manifest and completed["registered"] is True
    assert (
        completed["modelId"] == trained_model_id(manifest) and completed["weightsSha256"] == start
    )
    fields = json.loads(manifest)
    assert fields == {
        "base_model": "0x" + MODEL_ID.hex(),
        "data_sha256": DATA.hex(),
        "format": "genoracle.trained-model/1",
        "spec_sha256": sha256(SPEC).hexdigest(),
        "training_task": str(run.id),
        "weights_sha256": start.hex(),
    }
    assert consumer.functions.completedCount().call() == 1
    assert consumer.functions.lastModelId().call() == completed["modelId"]
    assert driver.ev(final, "TrainingCallbackCompleted")[0]["success"] is True
    assert driver.info(run)["status"] == TrainingStatus.COMPLETED
    assert training.functions.trainedModelOf(run.id).call() == completed["modelId"]
    for m in run.members:
        assert oracle.functions.creditOf(m).call() - before[m] == paid_total[m]
        assert stake_of(oracle, m) == stakes[m]
    gained = int(oracle.functions.creditOf(actors.outsider).call()) - resolver_before
    assert gained == CALLBACK_GAS * config_of(oracle)["callbackGasPrice"]
    # Nobody may start another round or resolve again.
    with reverts("TrainingWrongPhase"):
        driver.resolve(run, actors.outsider)
    assert_invariant(oracle, training, people(actors, consumer.address))


def test_registered_model_manifest_fields_and_its_servers_are_the_trainers(
    w3c: Web3,
    oracle: Contract,
    training: Contract,
    driver: Driver,
    actors: Actors,
    operators: list[str],
) -> None:
    run = driver.draw(driver.request(actors.requester, rounds=1), actors.outsider)
    work = honest_work(run, 0)
    receipt = driver.round(run, 0, work)
    completed = driver.ev(receipt, "TrainingCompleted")[0]
    model_id = completed["modelId"]
    registry = w3c.eth.contract(
        address=oracle.functions.models().call(), abi=load_artifact("ModelRegistry")["abi"]
    )
    parent = as_dict(registry, "getModel", registry.functions.getModel(MODEL_ID).call())
    child = as_dict(registry, "getModel", registry.functions.getModel(model_id).call())
    # The parent's scheme and tolerances; the manifest as metadata, its sha256 the id.
    for key in ("kind", "digestScheme", "defaultTolerance", "maxTolerance"):
        assert child[key] == parent[key]
    assert child["active"] is True and child["metadataURI"] == completed["manifest"]
    assert sha256(child["metadataURI"].encode()).digest() == model_id
    assert training.functions.manifestOf(run.id, completed["weightsSha256"]).call() == [
        completed["manifest"],
        model_id,
    ]
    derived = registry.events.DerivedModelRegistered().process_receipt(receipt)
    assert derived[0]["args"]["parentId"] == MODEL_ID
    # Only the registrar (TrainingTasks) registers derived models.
    with reverts("NotRegistrar"):
        send(registry.functions.registerDerivedModel(b"\x01" * 32, MODEL_ID, "x"), actors.owner)
    # The trainers serve the new model; a generation task on it draws among them.
    for m in run.members:
        send(oracle.functions.serveModel(model_id), m)
    fee = int(oracle.functions.requiredFee(3, 0).call())
    receipt = send(
        oracle.functions.requestGeneration(model_id, b'{"class":3}', 3, 0xFFFFFFFF, 0),
        actors.requester,
        fee,
    )
    task_id = oracle.events.TaskRequested().process_receipt(receipt)[0]["args"]["taskId"]
    mine(w3c)
    committee = [str(m) for m in oracle.functions.committeeOf(task_id).call()[0]]
    assert sorted(committee) == sorted(run.members)
    assert_invariant(oracle, training, people(actors))


# ----------------------------------------------------------------------------------------------
# Attacks
# ----------------------------------------------------------------------------------------------


def test_lazy_trainer_is_outvoted_and_slashed_in_its_round(
    oracle: Contract, training: Contract, driver: Driver, actors: Actors, operators: list[str]
) -> None:
    run = driver.draw(driver.request(actors.requester, rounds=2), actors.outsider)
    lazy = run.members[2]
    honest = run.members[:2]
    stakes = {m: stake_of(oracle, m) for m in run.members}
    before = credits(oracle, run.members)
    work = honest_work(run, 0)
    work[lazy] = (lazy_digest(0), ckpt(lazy, 0, "lazy"))
    receipt = driver.round(run, 0, work)
    slashed = driver.ev(receipt, "TrainingSlashed")
    assert [(s["operator"], s["reason"]) for s in slashed] == [(lazy, TrainingSlashReason.DEVIATED)]
    bps = config_of(oracle)["slashDeviationBps"]
    assert slashed[0]["amount"] == stakes[lazy] * bps // 10_000
    assert stake_of(oracle, lazy) == stakes[lazy] - slashed[0]["amount"]
    resolved = driver.ev(receipt, "RoundResolved")[0]
    assert list(resolved["paid"]) == honest and resolved["canonicalMember"] in honest
    assert resolved["slashShare"] == slashed[0]["amount"] // 2
    for m in honest:
        gained = oracle.functions.creditOf(m).call() - before[m]
        assert gained == resolved["feeEach"] + resolved["slashShare"]
    assert oracle.functions.creditOf(lazy).call() == before[lazy]
    # The lazy member stays in the committee: honest in round 1, it is paid again.
    receipt = driver.round(run, 1, honest_work(run, 1))
    assert list(driver.ev(receipt, "RoundResolved")[0]["paid"]) == run.members
    assert driver.info(run)["status"] == TrainingStatus.COMPLETED
    assert all(stake_of(oracle, m) == stakes[m] for m in honest)
    assert_invariant(oracle, training, people(actors))


def test_copying_trainer_cannot_open_a_copied_commitment(
    oracle: Contract, training: Contract, driver: Driver, actors: Actors, operators: list[str]
) -> None:
    run = driver.draw(driver.request(actors.requester, rounds=1), actors.outsider)
    a, b, copier = run.members
    digest, checkpoint = honest_digest(0), ckpt(a, 0)
    driver.commit(run, a, 0, digest, checkpoint)
    driver.commit(run, b, 0, honest_digest(0, 2), ckpt(b, 0))
    # The copier commits a's commitment bytes (seen in the mempool) at its own position.
    copied = driver.commitment(run, a, 0, digest, checkpoint)
    send(training.functions.commitRound(run.id, 0, 2, copied), copier)
    a_opening = driver.opening(run, a, 0, digest, checkpoint)
    send(training.functions.revealRound(run.id, 0, [a_opening]), a)
    # a's opening at the copier's position names a, not the copier: refused.
    stolen = (2, a, digest, checkpoint, a_opening[4])
    with reverts("TrainingNotMember"):
        send(training.functions.revealRound(run.id, 0, [stolen]), copier)
    # Under its own name the copied commitment does not open either.
    own = (2, copier, digest, checkpoint, a_opening[4])
    with reverts("TrainingCommitmentMismatch"):
        send(training.functions.revealRound(run.id, 0, [own]), copier)
    stake = stake_of(oracle, copier)
    credit = oracle.functions.creditOf(copier).call()
    send(
        training.functions.revealRound(
            run.id, 0, [driver.opening(run, b, 0, honest_digest(0, 2), ckpt(b, 0))]
        ),
        b,
    )
    warp_past(oracle.w3, driver.info(run)["revealDeadline"])
    receipt = driver.resolve(run, actors.outsider)
    slashed = driver.ev(receipt, "TrainingSlashed")
    assert [(s["operator"], s["reason"]) for s in slashed] == [
        (copier, TrainingSlashReason.NOT_REVEALED)
    ]
    assert stake_of(oracle, copier) < stake and oracle.functions.creditOf(copier).call() == credit
    assert list(driver.ev(receipt, "RoundResolved")[0]["paid"]) == [a, b]
    assert_invariant(oracle, training, people(actors))


def test_no_shows_are_slashed_and_members_who_did_their_part_never_are(
    oracle: Contract, training: Contract, driver: Driver, actors: Actors, operators: list[str]
) -> None:
    # Round 0: one member never commits; the two others carry the round and are paid.
    run = driver.draw(driver.request(actors.requester, rounds=2), actors.outsider)
    absent = run.members[1]
    stakes = {m: stake_of(oracle, m) for m in run.members}
    work = {m: w for m, w in honest_work(run, 0).items() if m != absent}
    receipt = driver.round(run, 0, work)
    slashed = driver.ev(receipt, "TrainingSlashed")
    assert [(s["operator"], s["reason"]) for s in slashed] == [
        (absent, TrainingSlashReason.NOT_COMMITTED)
    ]
    assert slashed[0]["amount"] == stakes[absent] * config_of(oracle)["slashNoCommitBps"] // 10_000
    # Round 1: only one member commits (fewer than a majority): the task expires; the committer
    # is spared (and shares what the others lose), the rest of the fee goes back.
    committer = run.members[0]
    requester_before = oracle.functions.creditOf(actors.requester).call()
    info = driver.info(run)
    driver.commit(run, committer, 1, honest_digest(1), ckpt(committer, 1))
    warp_past(oracle.w3, info["commitDeadline"])
    assert TrainingPhase(training.functions.phaseOf(run.id).call()) == TrainingPhase.RESOLVABLE
    receipt = driver.resolve(run, actors.outsider)
    failed = driver.ev(receipt, "TrainingFailed")[0]
    assert failed["reason"] == TrainingFailure.EXPIRED and failed["round"] == 1
    assert failed["refund"] == info["roundFee"]
    refunded = oracle.functions.creditOf(actors.requester).call() - requester_before
    assert refunded == info["roundFee"]
    reasons = {s["operator"]: s["reason"] for s in driver.ev(receipt, "TrainingSlashed")}
    assert committer not in reasons
    assert reasons == {m: TrainingSlashReason.NOT_COMMITTED for m in run.members if m != committer}
    assert stake_of(oracle, committer) == stakes[committer]
    assert driver.info(run)["status"] == TrainingStatus.FAILED
    assert_invariant(oracle, training, people(actors))


def test_no_majority_round_slashes_no_revealer_and_refunds(
    oracle: Contract, training: Contract, driver: Driver, actors: Actors, operators: list[str]
) -> None:
    run = driver.draw(driver.request(actors.requester, rounds=2), actors.outsider)
    stakes = {m: stake_of(oracle, m) for m in run.members}
    requester_before = oracle.functions.creditOf(actors.requester).call()
    work = {
        m: (bytes(Web3.keccak(text=f"far apart {i}")), ckpt(m, 0))
        for i, m in enumerate(run.members)
    }
    receipt = driver.round(run, 0, work)
    failed = driver.ev(receipt, "TrainingFailed")[0]
    assert failed["reason"] == TrainingFailure.NO_CONSENSUS
    assert driver.ev(receipt, "TrainingSlashed") == []
    assert all(stake_of(oracle, m) == stakes[m] for m in run.members)
    # Everything back: both rounds' member fees (no callback fee was asked).
    assert oracle.functions.creditOf(actors.requester).call() - requester_before == run.fee
    assert driver.info(run)["status"] == TrainingStatus.FAILED
    assert_invariant(oracle, training, people(actors))


def test_invalid_request_pays_the_round_and_refunds_the_rest(
    oracle: Contract, training: Contract, driver: Driver, actors: Actors, operators: list[str]
) -> None:
    run = driver.draw(driver.request(actors.requester, rounds=2), actors.outsider)
    work = {m: (INVALID_REQUEST_DIGEST, b"\x00" * 32) for m in run.members}
    receipt = driver.round(run, 0, work)
    assert driver.ev(receipt, "TrainingFailed")[0]["reason"] == TrainingFailure.INVALID_REQUEST
    assert driver.ev(receipt, "TrainingSlashed") == []
    assert_invariant(oracle, training, people(actors))


def test_withheld_checkpoint_fails_the_task_and_slashes_who_withheld_it(
    oracle: Contract, training: Contract, driver: Driver, actors: Actors, operators: list[str]
) -> None:
    run = driver.draw(driver.request(actors.requester, rounds=2), actors.outsider)
    receipt = driver.round(run, 0, honest_work(run, 0))
    server = driver.ev(receipt, "RoundResolved")[0]["canonicalMember"]
    stakes = {m: stake_of(oracle, m) for m in run.members}
    # Round 1: the canonical member of round 0 never served its checkpoint; the two others say
    # so (the reserved digest), the server itself claims to have trained.
    work = {
        m: (CHECKPOINT_WITHHELD_DIGEST, b"\x00" * 32)
        if m != server
        else (honest_digest(1), ckpt(m, 1))
        for m in run.members
    }
    requester_before = oracle.functions.creditOf(actors.requester).call()
    info = driver.info(run)
    receipt = driver.round(run, 1, work)
    failed = driver.ev(receipt, "TrainingFailed")[0]
    assert failed["reason"] == TrainingFailure.CHECKPOINT_WITHHELD
    slashed = driver.ev(receipt, "TrainingSlashed")
    assert [(s["operator"], s["reason"]) for s in slashed] == [
        (server, TrainingSlashReason.CHECKPOINT_WITHHELD)
    ]
    assert all(stake_of(oracle, m) == stakes[m] for m in run.members if m != server)
    refunded = oracle.functions.creditOf(actors.requester).call() - requester_before
    assert refunded == info["roundFee"]
    assert_invariant(oracle, training, people(actors))


def test_requester_cannot_choose_its_committee(
    w3c: Web3,
    oracle: Contract,
    training: Contract,
    driver: Driver,
    actors: Actors,
    operators: list[str],
) -> None:
    # In the request's block nobody, the requester included, can know the committee.
    run = driver.request(actors.requester)
    assert training.functions.membersOf(run.id).call() == ["0x" + "00" * 20] * 3
    with reverts("TrainingWrongPhase"):
        # A commit in the request's block cannot draw (the randomness does not exist yet).
        training.functions.commitRound(run.id, 0, 0, b"\x01" * 32).call(
            {"from": operators[0]}, block_identifier=run.receipts[0]["blockNumber"]
        )
    # Two identical requests in different blocks draw from different randomness.
    driver.draw(run, actors.outsider)
    drawn = events(training, run.receipts[0], "TrainingRequested")[0]["drawBlock"]
    assert drawn == run.receipts[0]["blockNumber"]
    committees = {tuple(run.members)}
    for _ in range(5):
        other = driver.draw(driver.request(actors.requester), actors.outsider)
        committees.add(tuple(other.members))
    assert len(committees) > 1
    assert_invariant(oracle, training, people(actors))


def test_weights_changed_between_request_and_draw_do_not_steer_it(
    w3c: Web3,
    oracle: Contract,
    training: Contract,
    driver: Driver,
    actors: Actors,
    operators: list[str],
) -> None:
    run = driver.request(actors.requester)
    mine(w3c)  # the randomness exists now; the committee it gives is fixed
    preview = [str(m) for m in training.functions.membersOf(run.id).call()]
    # A member of that committee tries to leave it, an outsider to weigh more: each weight change
    # first completes the draw with the weights in force before the randomness existed.
    receipt = send(oracle.functions.pauseAssignments(), preview[0])
    drawn = events(training, receipt, "TrainingCommitteeDrawn")
    assert drawn and [str(m) for m in drawn[0]["members"]] == preview
    outsider_op = next(o for o in operators if o not in preview)
    send(oracle.functions.addStake(), outsider_op, 50 * ETHER)
    assert [str(m) for m in training.functions.membersOf(run.id).call()] == preview
    run.members = preview
    receipt = driver.round(run, 0, honest_work(run, 0))
    assert list(driver.ev(receipt, "RoundResolved")[0]["paid"]) == preview
    assert_invariant(oracle, training, people(actors))


def test_a_member_cannot_grind_the_canonical_checkpoint(
    w3c: Web3,
    oracle: Contract,
    training: Contract,
    driver: Driver,
    actors: Actors,
    operators: list[str],
) -> None:
    """A grinder picks, among many checkpoint variants (all within the tolerance), the one with
    the lowest sha256 (the rule a fixed order on the data would use) or the lowest score under a
    randomness it guesses; the canonical member is still whoever the round's randomness (the seal
    block's hash, unknown when committing) picks: over many rounds the grinder wins about a third
    of them, not all."""
    wins = 0
    rounds = 8
    for i in range(rounds):
        run = driver.draw(driver.request(actors.requester, rounds=1), actors.outsider)
        grinder = run.members[0]
        variants = [ckpt(grinder, 0, f"variant-{v}") for v in range(64)]
        best = min(variants)
        work = honest_work(run, 0)
        work[grinder] = (work[grinder][0], best)
        for m in run.members[1:]:  # honest sha256s are whatever they are
            work[m] = (work[m][0], ckpt(m, 0, f"task-{i}"))
        receipt = driver.round(run, 0, work)
        resolved = driver.ev(receipt, "RoundResolved")[0]
        checkpoints = {p: work[m][1] for p, m in enumerate(run.members)}
        assert (
            run.members[canonical_position(resolved["randomness"], checkpoints, [0, 1, 2])]
            == resolved["canonicalMember"]
        )
        wins += resolved["canonicalMember"] == grinder
    assert wins < rounds
    assert_invariant(oracle, training, people(actors))


def test_round_randomness_comes_from_the_block_that_sealed_the_commitments(
    w3c: Web3,
    oracle: Contract,
    training: Contract,
    driver: Driver,
    actors: Actors,
    operators: list[str],
) -> None:
    run = driver.draw(driver.request(actors.requester, rounds=1), actors.outsider)
    work = honest_work(run, 0)
    receipt = None
    for m, (digest, checkpoint) in work.items():
        receipt = driver.commit(run, m, 0, digest, checkpoint)
    sealed = driver.ev(receipt, "RoundSealed")[0]
    assert sealed["sealBlock"] == receipt["blockNumber"]
    expected = Web3.keccak(
        w3c.codec.encode(
            ["bytes32", "uint256", "uint256"],
            [w3c.eth.get_block(receipt["blockNumber"])["hash"], run.id, 0],
        )
    )
    openings = [driver.opening(run, m, 0, *work[m]) for m in run.members]
    # Zero in the seal block itself; known from the next block on.
    assert training.functions.roundRandomness(run.id).call() == b"\x00" * 32
    assert training.functions.roundRandomness(run.id).call(block_identifier="pending") == expected
    receipt = send(training.functions.revealRound(run.id, 0, openings), actors.outsider)
    assert driver.ev(receipt, "RoundResolved")[0]["randomness"] == expected
    assert_invariant(oracle, training, people(actors))


@pytest.mark.parametrize("mode", [1, 2], ids=["reverting", "gas-burning"])
def test_hostile_callback_does_not_block_completion(
    w3c: Web3,
    oracle: Contract,
    training: Contract,
    driver: Driver,
    actors: Actors,
    operators: list[str],
    mode: int,
) -> None:
    consumer = deploy_consumer(w3c, training, actors.owner, mode)
    run = driver.draw(
        driver.request(actors.requester, rounds=1, callback=CALLBACK_GAS, via=consumer),
        actors.outsider,
    )
    before = credits(oracle, run.members)
    receipt = driver.round(run, 0, honest_work(run, 0), sender=actors.outsider)
    assert driver.ev(receipt, "TrainingCallbackCompleted")[0]["success"] is False
    assert driver.ev(receipt, "TrainingCompleted")[0]["registered"] is True
    assert driver.info(run)["status"] == TrainingStatus.COMPLETED
    assert all(oracle.functions.creditOf(m).call() > before[m] for m in run.members)
    assert consumer.functions.completedCount().call() == 0
    assert_invariant(oracle, training, people(actors, consumer.address))


def test_request_checks(
    oracle: Contract, training: Contract, driver: Driver, actors: Actors, operators: list[str]
) -> None:
    req = TrainingRequest(MODEL_ID, DATA, 1, 2, 10, committee_size=4).as_tuple()
    fee = driver.fee(3, 2)
    with reverts("TrainingInvalidCommittee"):
        send(training.functions.requestTraining(req, SPEC), actors.requester, fee)
    req = TrainingRequest(MODEL_ID, DATA, 1, 0, 10).as_tuple()
    with reverts("TrainingInvalidSchedule"):
        send(training.functions.requestTraining(req, SPEC), actors.requester, fee)
    req = TrainingRequest(MODEL_ID, DATA, 1, 2, 10, tolerance=0x01010101).as_tuple()
    with reverts("TrainingInvalidTolerance"):
        send(training.functions.requestTraining(req, SPEC), actors.requester, fee)
    req = TrainingRequest(MODEL_ID, DATA, 1, 2, 10).as_tuple()
    with reverts("TrainingFeeTooLow"):
        send(training.functions.requestTraining(req, SPEC), actors.requester, fee - 1)
    with reverts("TrainingEmptySpec"):
        send(training.functions.requestTraining(req, b""), actors.requester, fee)
    with reverts("TrainingOnlyOracle"):
        send(training.functions.drawReadyTraining(), actors.outsider)
    host = oracle.w3.eth.contract(address=oracle.address, abi=load_artifact("ITrainingHost")["abi"])
    assert host.functions.trainingTasks().call() == training.address
    with reverts("AuditAttachRefused"):
        send(host.functions.attachTrainingTasks(actors.outsider), actors.owner)
    assert_invariant(oracle, training, people(actors))


def test_python_enums_match_the_interface() -> None:
    source = (
        __import__("pathlib").Path(__file__).resolve().parents[2]
        / "contracts/interfaces/ITrainingTasks.sol"
    ).read_text()
    for enum_type, name in (
        (TrainingStatus, "TrainingStatus"),
        (TrainingPhase, "TrainingPhase"),
        (TrainingFailure, "TrainingFailure"),
        (TrainingSlashReason, "TrainingSlashReason"),
    ):
        body = source.split(f"enum {name} {{", 1)[1].split("}", 1)[0]
        members = [m.strip() for m in body.split(",") if m.strip()]
        camel = ["".join(p.title() for p in e.name.split("_")) for e in enum_type]
        assert members == camel, name
    from inference.training.digest import ROUND_TOLERANCE

    assert ROUND_TOLERANCE.to_uint32() == ROUND_TOLERANCE_FLOOR


def test_a_slash_by_the_audited_module_first_completes_ready_training_draws(
    w3c: Web3,
    oracle: Contract,
    training: Contract,
    driver: Driver,
    actors: Actors,
    operators: list[str],
    oracle_deployment: Deployment,
) -> None:
    """Frozen weights across modules: before AuditedTasks' settlement slashes (a weight change),
    the host completes TrainingTasks' draws whose randomness exists."""
    assert oracle_deployment.audited is not None
    audited = AuditedClient(audited_at(w3c, oracle_deployment.audited))
    task = audited.draw(audited.request(actors.requester), actors.outsider)
    run = driver.request(actors.requester)
    mine(w3c)
    preview = [str(m) for m in training.functions.membersOf(run.id).call()]
    warp_past(w3c, task.submit_deadline)  # the executor never submits: slashed at resolution
    receipt = audited.resolve(task, actors.outsider)
    assert audited.event(receipt, "AuditSlashed")
    drawn = events(training, receipt, "TrainingCommitteeDrawn")
    assert drawn and [str(m) for m in drawn[0]["members"]] == preview
    assert_invariant(oracle, training, people(actors))


def test_a_model_that_cannot_be_audited_can_still_be_fine_tuned(
    oracle: Contract, driver: Driver, actors: Actors, operators: list[str]
) -> None:
    """A training request needs the model registered, active and served, not auditable: a model
    without an audit tolerance (a fine-tuned one, registered by TrainingTasks, has none) can be
    fine-tuned (the request once went through the audited terms and was refused)."""
    plain = Web3.keccak(text="not-auditable")
    register_model(oracle, actors.owner, model_id=plain, audit_tolerance=0)
    assert registry(oracle).functions.auditToleranceOf(plain).call() == 0
    for operator in operators[:3]:
        send(oracle.functions.serveModel(plain), operator)
    run = driver.draw(driver.request(actors.requester, model=plain), actors.outsider)
    assert len(run.members) == 3 and set(run.members) <= set(operators[:3])
    with reverts("NotEnoughOperators"):
        driver.request(actors.requester, committee=5, model=plain)
    assert_invariant(oracle, driver.c, people(actors))
