"""Training tasks on a node (TrainingTasks): a committee member's rounds, on a desk of its own
(module_desk.py: its thread, log reading and sending).

Each pass reads the contract's new logs and looks at every open training task of a base model
this node can train (Digits-Gen):
    Draw      -> drawTraining (as a keeper: mined after the request's block)
    Train     -> get the data (pushed by the requester, or from a peer, checked against the
        request's data hash), get the round's start checkpoint (round 0: the base weights; then
        the previous round's canonical one, fetched by sha256 from a member that revealed it and
        checked), train S steps, digest the checkpoint, commitRound(salted commitment)
    Reveal    -> revealRound(own opening); from then on the round's checkpoint is served by its
        sha256 (GET /training/checkpoints/<sha256>, training_api.py)
    Resolvable -> resolveRound
A request whose spec does not match it, or whose data nobody served in time, is answered with
INVALID_REQUEST_DIGEST; a start checkpoint nobody served (or only with the wrong bytes) with
CHECKPOINT_WITHHELD_DIGEST. Every refusal (data or checkpoint with another sha256, a spec that
does not match its request) is logged and recorded per task (`rejections`), never raised.

How the data reaches a member: the requester pushes the data's canonical bytes
(inference/training/data.py) to each drawn member (POST /training/data, oracle/sdk/training.py
does it); a member keeps them only when their sha256 is the data hash of a training task it
knows and they decode. A member without them asks the other members (GET
/training/data/<sha256>), which serve what they hold. Content-addressed both ways: whoever
serves, the bytes are checked against the hash on chain before anything trains on them.

Long module: a member's round is one sequence (data, start checkpoint, training, commitment,
reveal, publication) over one job's state; split, every part would pass the job and the chain
client around.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from oracle.chain.client import ChainClient
from oracle.chain.training import (
    CHECKPOINT_WITHHELD_DIGEST,
    INVALID_REQUEST_DIGEST,
    TRAINING_CONTRACT,
    TrainingPhase,
    TrainingStatus,
    round_commitment,
    round_opening,
    training_address,
)
from oracle.chain.views import read_operator
from oracle.errors import ChainError
from oracle.node.module_desk import ModuleDesk
from oracle.node.training_store import (
    BlobStore,
    Getter,
    Rejection,
    checkpoint_sources,
    fetch_verified,
    http_get,
    request_problem,
    sha256_hex,
)

if TYPE_CHECKING:
    from inference.training.data import TrainingData
    from inference.training.spec import TrainingSpec
    from oracle.config import NodeConfig
    from oracle.node.conduct import Conduct
    from oracle.node.worker import ModelDescription

log = logging.getLogger("genoracle.node.training")

ZERO32 = b"\0" * 32
#: Base models this node can fine-tune (the training worker is Digits-Gen's).
TRAINABLE = ("digits",)


def training_desk(
    config: NodeConfig,
    account: LocalAccount,
    oracle: ChainClient,
    conduct: Conduct,
    start_block: int,
    models: dict[bytes, ModelDescription],
) -> TrainingDesk | None:
    """The node's training desk: None when the oracle has no TrainingTasks attached or the node
    serves no model it can train."""
    trainable = {model_id: d.name for model_id, d in models.items() if d.name in TRAINABLE}
    try:
        address = training_address(oracle) if trainable else None
    except ChainError as exc:  # an oracle deployed before training tasks existed
        log.info("no training tasks on this oracle (%s)", exc)
        address = None
    if address is None:
        return None
    return TrainingDesk(
        config, account, oracle, address, conduct, config.node.data_dir, start_block, trainable
    )


# ----------------------------------------------------------------------------------------------
# The desk
# ----------------------------------------------------------------------------------------------


@dataclass
class RoundOpening:
    """What a member committed for a round (kept on disk before the commit leaves)."""

    digest: bytes
    checkpoint: bytes
    salt: bytes


@dataclass
class TrainingJob:
    """What the node knows of one training task."""

    task_id: int
    base_model_id: bytes
    base_name: str
    data_sha256: str
    spec: TrainingSpec | None
    problem: str | None
    revealed: dict[int, dict[str, str]] = field(default_factory=dict)
    """round -> member -> revealed checkpoint sha256 (hex)."""
    openings: dict[int, RoundOpening] = field(default_factory=dict)
    first_try: dict[int, float] = field(default_factory=dict)
    next_try: float = 0.0
    sent: frozenset[str] = frozenset()
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    finished: str | None = None
    """"completed" or "failed" once the task is over (kept for the API, no longer stepped)."""
    model_folder: str | None = None
    """The trained model's folder on this node, once completed (None: not written)."""


class TrainingDesk(ModuleDesk[TrainingJob]):
    """Watches TrainingTasks for base models this node can train and plays a member's part."""

    kind = "training"
    contract = TRAINING_CONTRACT
    resolving_gas = 3_000_000  # the last round also registers the model
    stop_wait_s = 60.0

    def __init__(
        self,
        config: NodeConfig,
        account: LocalAccount,
        oracle: ChainClient,
        address: str,
        conduct: Conduct,
        data_dir: Path,
        start_block: int,
        base_models: dict[bytes, str],
    ) -> None:
        super().__init__(config, account, oracle, address, conduct, start_block)
        self.wait_s = config.node.training_fetch_wait_s
        self.root = data_dir / "training"
        self.checkpoints = BlobStore(self.root / "checkpoints", ".safetensors")
        """Checkpoints this node revealed (served to anyone by sha256) or fetched."""
        self.private = BlobStore(self.root / "private", ".safetensors")
        """Checkpoints trained but not revealed yet (never served)."""
        self.data = BlobStore(self.root / "data", ".godata")
        self.rejections: dict[int, list[Rejection]] = {}
        self.base_models = dict(base_models)
        self.get: Getter = http_get(self.timeout_s)
        self._lock = threading.Lock()

    # -- records ---------------------------------------------------------------------------

    def reject(self, task_id: int, rejection: Rejection) -> None:
        """Log and record a refusal (kept on disk beside the task's openings)."""
        log.warning(
            "training task %d: refused %s from %s: %s",
            task_id,
            rejection.what,
            rejection.source,
            rejection.reason,
        )
        with self._lock:
            self.rejections.setdefault(task_id, []).append(rejection)
        folder = self.root / str(task_id)
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "rejections.jsonl").open("a") as stream:
            stream.write(json.dumps(rejection.__dict__) + "\n")

    def status(self, task_id: int) -> dict[str, Any] | None:
        """What this node knows of a training task (the API's /training/tasks/<id>)."""
        job = self.jobs.get(task_id)
        with self._lock:
            rejections = [r.__dict__ for r in self.rejections.get(task_id, [])]
        if job is None and not rejections:
            return None
        return {
            "task_id": str(task_id),
            "problem": job.problem if job else None,
            "finished": job.finished if job else None,
            "model_folder": job.model_folder if job else None,
            "rounds_committed": sorted(job.openings) if job else [],
            "outcomes": list(job.outcomes) if job else [],
            "rejections": rejections,
        }

    def add_routes(self, app: Any) -> None:
        """The training routes on the node's API (training_api.py)."""
        from oracle.node.training_api import add_training_routes

        add_training_routes(app, self)

    # -- what the API serves -------------------------------------------------------------------

    def served_checkpoint(self, digest: str) -> bytes | None:
        """A checkpoint this node revealed (or fetched after its round's reveal), by sha256."""
        return self.checkpoints.get(digest)

    def served_data(self, digest: str) -> bytes | None:
        return self.data.get(digest)

    def accept_data(self, data: bytes, source: str) -> tuple[bool, str]:
        """Pushed training data: kept when its sha256 is the data hash of a task this node knows
        and it decodes; (kept, why not)."""
        from inference.training.data import TrainingDataError, parse_data

        digest = sha256_hex(data)
        tasks = [
            j.task_id
            for j in list(self.jobs.values())
            if j.data_sha256 == digest and j.finished is None
        ]
        if not tasks:
            reason = f"sha256 {digest} is no open training task's data hash"
            log.info("training data from %s refused: %s", source, reason)
            return False, reason
        try:
            parse_data(data, digest)
        except TrainingDataError as exc:
            for task_id in tasks:
                self.reject(task_id, Rejection("data", source, str(exc)))
            return False, str(exc)
        self.data.put(data)
        log.info("training data %s received from %s (tasks %s)", digest[:12], source, tasks)
        return True, ""

    # -- one pass --------------------------------------------------------------------------

    def active(self, job: TrainingJob) -> bool:
        return job.finished is None

    def on_event(self, event: Any) -> None:
        args = event["args"]
        name = event["event"]
        if name == "TrainingRequested":
            base = bytes(args["baseModelId"])
            if base not in self.base_models:
                return
            task_id = int(args["taskId"])
            base_name = self.base_models[base]
            spec, problem = request_problem(bytes(args["spec"]), dict(args), (base_name,))
            if problem is not None:
                self.reject(task_id, Rejection("request", "chain", problem))
            job = TrainingJob(
                task_id, base, base_name, bytes(args["dataHash"]).hex(), spec, problem
            )
            job.openings = self._kept_openings(task_id)
            self.jobs[task_id] = job
            return
        known = self.jobs.get(int(args.get("taskId", -1)))
        if known is None:
            return
        job = known
        if name == "RoundRevealed":
            member = to_checksum_address(args["member"])
            job.revealed.setdefault(int(args["round"]), {})[member] = bytes(
                args["checkpointSha256"]
            ).hex()
        elif name == "RoundResolved":
            paid = {to_checksum_address(p) for p in args["paid"]}
            job.outcomes.append(
                {
                    "round": int(args["round"]),
                    "paid": self.me in paid,
                    "canonical": bytes(args["canonicalCheckpoint"]).hex(),
                }
            )
            log.info(
                "training task %d: round %d resolved, %s, canonical %s",
                job.task_id,
                int(args["round"]),
                "paid" if self.me in paid else "not paid",
                bytes(args["canonicalCheckpoint"]).hex()[:12],
            )
        elif name == "TrainingSlashed" and to_checksum_address(args["operator"]) == self.me:
            log.warning(
                "training task %d: slashed %d wei in round %d (reason %d)",
                job.task_id,
                int(args["amount"]),
                int(args["round"]),
                int(args["reason"]),
            )

    def step(self, job: TrainingJob) -> None:
        info = self.client.view("getTrainingTask", job.task_id)
        phase = TrainingPhase(int(info["phase"]))
        status = TrainingStatus(int(info["status"]))
        if phase == TrainingPhase.FINISHED:
            self.finish(job, info, status)
            job.finished = status.name.lower()
            return
        if status == TrainingStatus.DRAWING:
            drawn = self.client.view("membersOf", job.task_id)
        else:
            drawn = info["members"]
        members = [str(to_checksum_address(m)) for m in drawn]
        position = members.index(self.me) if self.me in members else -1
        round_index = int(info["round"])
        if phase == TrainingPhase.DRAW:
            # As a keeper: mined in a later block than the request's, whose hash then exists.
            if self.client.block_number() >= int(info["drawBlock"]):
                self.send_once(job, "draw", "drawTraining")
        elif phase == TrainingPhase.TRAIN and position >= 0:
            if not info["committed"][position]:
                self.train(job, info, position, members)
        elif phase == TrainingPhase.REVEAL and position >= 0:
            opening = job.openings.get(round_index)
            if info["committed"][position] and not info["revealed"][position] and opening:
                self.reveal(job, round_index, position, opening)
        elif phase == TrainingPhase.RESOLVABLE and position >= 0:
            self.send_once(
                job, f"resolve/{round_index}", "resolveRound", job.task_id, resolving=True
            )

    # -- a member's round ------------------------------------------------------------------

    def train(
        self, job: TrainingJob, info: dict[str, Any], position: int, members: list[str]
    ) -> None:
        round_index = int(info["round"])
        now = time.monotonic()
        if now < job.next_try:
            return
        opening = job.openings.get(round_index)
        if opening is None:
            first = job.first_try.setdefault(round_index, now)
            left = int(info["commitDeadline"]) - self.client.block_timestamp()
            give_up = now - first >= min(self.wait_s, max(left, 0) / 2)
            result = self.compute_round(job, info, members, give_up)
            if result is None:
                job.next_try = now + 1.0
                return
            digest, checkpoint = result
            opening = RoundOpening(digest, checkpoint, os.urandom(32))
            self._keep_opening(job.task_id, round_index, opening)
            job.openings[round_index] = opening
        seal = round_commitment(
            self.chain_id,
            self.address,
            job.task_id,
            round_index,
            self.me,
            opening.digest,
            opening.checkpoint,
            opening.salt,
        )
        if self.conduct.commits():
            self.send_once(
                job,
                f"commit/{round_index}",
                "commitRound",
                job.task_id,
                round_index,
                position,
                seal,
            )

    def compute_round(
        self, job: TrainingJob, info: dict[str, Any], members: list[str], give_up: bool
    ) -> tuple[bytes, bytes] | None:
        """(digest, checkpoint sha256) of this node's round, or None while it still waits for the
        data or the start checkpoint."""
        from inference.errors import InferenceError
        from inference.training.data import parse_data
        from inference.training.digest import round_digest
        from inference.training.worker import honest_run, train_round

        task_id = job.task_id
        round_index = int(info["round"])
        if job.problem is not None or job.spec is None:
            return INVALID_REQUEST_DIGEST, ZERO32
        data_bytes = self.data.get(job.data_sha256) or self._fetch_data(job, members)
        if data_bytes is None:
            if not give_up:
                return None
            self.reject(task_id, Rejection("data", "requester", "no member was served the data"))
            return INVALID_REQUEST_DIGEST, ZERO32
        start = self.start_checkpoint(job, info, members)
        if start is None:
            if not give_up:
                return None
            log.warning("training task %d: start checkpoint withheld", task_id)
            return CHECKPOINT_WITHHELD_DIGEST, ZERO32
        run = self.conduct.training_run(honest_run(job.spec, threads=self.threads))
        began = time.perf_counter()
        try:
            data: TrainingData = parse_data(data_bytes, job.data_sha256)
            checkpoint = train_round(start, data, job.spec, round_index, run)
            digested = round_digest(checkpoint, start, job.spec.learning_rate, self.threads)
        except (InferenceError, ValueError) as exc:
            # Every honest member fails alike on the same spec, data and start: the request is
            # unusable (refunded), not this member's fault.
            self.reject(task_id, Rejection("request", "training", f"round cannot run: {exc}"))
            return INVALID_REQUEST_DIGEST, ZERO32
        self.private.put(checkpoint)
        log.info(
            "training task %d: round %d trained (%d steps) and digested in %.1f s, checkpoint %s",
            task_id,
            round_index,
            run.steps,
            time.perf_counter() - began,
            digested.checkpoint_sha256[:12],
        )
        return digested.digest, bytes.fromhex(digested.checkpoint_sha256)

    def _fetch_data(self, job: TrainingJob, members: list[str]) -> bytes | None:
        from inference.training.data import TrainingDataError, parse_data

        def check(data: bytes) -> None:
            try:
                parse_data(data)
            except TrainingDataError as exc:
                raise ValueError(str(exc)) from None

        sources = [
            (m, f"{e.rstrip('/')}/training/data/{job.data_sha256}")
            for m in members
            if m != self.me and (e := self._endpoint(m))
        ]
        data = fetch_verified(
            job.data_sha256,
            sources,
            self.get,
            lambda r: self.reject(job.task_id, r),
            what="data",
            check=check,
        )
        if data is not None:
            self.data.put(data)
        return data

    def start_checkpoint(
        self, job: TrainingJob, info: dict[str, Any], members: list[str]
    ) -> bytes | None:
        """The round's start: the base weights in round 0, else the previous round's canonical
        checkpoint (held, or fetched from a member that revealed it and checked by sha256)."""
        round_index = int(info["round"])
        if round_index == 0:
            return self._base_weights(job.base_name)
        wanted = bytes(info["startCheckpoint"]).hex()
        held = self.checkpoints.get(wanted) or self.private.get(wanted)
        if held is not None:
            return held
        canonical, member = self.client.view("canonicalOf", job.task_id, round_index - 1)
        sources = checkpoint_sources(
            to_checksum_address(member),
            job.revealed.get(round_index - 1, {}),
            bytes(canonical).hex(),
            self._endpoint,
            self.me,
        )
        data = fetch_verified(wanted, sources, self.get, lambda r: self.reject(job.task_id, r))
        if data is not None:
            self.checkpoints.put(data)
            log.info(
                "training task %d: fetched the canonical checkpoint %s of round %d",
                job.task_id,
                wanted[:12],
                round_index - 1,
            )
        return data

    def _base_weights(self, name: str) -> bytes:
        from inference.digits.shipped import WEIGHTS_FILE
        from inference.models import resolve_model_folder

        return (resolve_model_folder(name) / WEIGHTS_FILE).read_bytes()

    def _endpoint(self, member: str) -> str | None:
        try:
            return read_operator(self.oracle, member).endpoint or None
        except ChainError:
            return None

    def reveal(
        self, job: TrainingJob, round_index: int, position: int, opening: RoundOpening
    ) -> None:
        if not self.conduct.reveals():
            return
        mined = self.send_once(
            job,
            f"reveal/{round_index}",
            "revealRound",
            job.task_id,
            round_index,
            [round_opening(position, self.me, opening.digest, opening.checkpoint, opening.salt)],
            resolving=True,
        )
        if mined and opening.checkpoint != ZERO32:
            # Revealed: from now on the checkpoint is public, served to every member by sha256.
            checkpoint = self.private.get(opening.checkpoint.hex())
            if checkpoint is not None:
                self.checkpoints.put(checkpoint)

    def finish(self, job: TrainingJob, info: dict[str, Any], status: TrainingStatus) -> None:
        if status != TrainingStatus.COMPLETED:
            log.info("training task %d failed (%d)", job.task_id, int(info["failure"]))
            return
        model_id = bytes(info["modelId"])
        log.info("training task %d completed: model 0x%s", job.task_id, model_id.hex())
        try:
            job.model_folder = self.write_model(job, int(info["rounds"]))
        except Exception as exc:  # a model folder is a convenience: never stop the desk
            log.warning("training task %d: no model folder written: %s", job.task_id, exc)

    def write_model(self, job: TrainingJob, rounds: int) -> str | None:
        """The trained model as a model folder (the base's, with the final canonical checkpoint
        as its weights) under <data_dir>/training/models/0x<model id>, when this node holds or
        can fetch that checkpoint: list the folder in node.models and serve its id to run it."""
        from inference.digits.shipped import WEIGHTS_FILE
        from inference.models import resolve_model_folder
        from inference.training.model import write_trained_model

        canonical, member = self.client.view("canonicalOf", job.task_id, rounds - 1)
        wanted = bytes(canonical).hex()
        checkpoint = self.checkpoints.get(wanted) or self.private.get(wanted)
        if checkpoint is None:
            sources = checkpoint_sources(
                to_checksum_address(member),
                job.revealed.get(rounds - 1, {}),
                wanted,
                self._endpoint,
                self.me,
            )
            checkpoint = fetch_verified(
                wanted, sources, self.get, lambda r: self.reject(job.task_id, r)
            )
            if checkpoint is None:
                return None
            self.checkpoints.put(checkpoint)
        manifest, model_id = self.client.view("manifestOf", job.task_id, bytes(canonical))
        folder = self.root / "models" / ("0x" + bytes(model_id).hex())
        write_trained_model(
            folder,
            resolve_model_folder(job.base_name),
            WEIGHTS_FILE,
            checkpoint,
            str(manifest).encode(),
        )
        log.info(
            "training task %d: trained model 0x%s written to %s (add it to node.models and "
            "serve it to run its generation tasks)",
            job.task_id,
            bytes(model_id).hex(),
            folder,
        )
        return str(folder)

    # -- persistence ---------------------------------------------------------------------------

    def _keep_opening(self, task_id: int, round_index: int, opening: RoundOpening) -> None:
        """The opening on disk before the commit leaves (a restart can still reveal)."""
        folder = self.root / str(task_id)
        folder.mkdir(parents=True, exist_ok=True)
        record = {
            "digest": opening.digest.hex(),
            "checkpoint": opening.checkpoint.hex(),
            "salt": opening.salt.hex(),
        }
        (folder / f"round-{round_index}.json").write_text(json.dumps(record))

    def _kept_openings(self, task_id: int) -> dict[int, RoundOpening]:
        kept: dict[int, RoundOpening] = {}
        for path in (self.root / str(task_id)).glob("round-*.json"):
            record = json.loads(path.read_text())
            kept[int(path.stem.split("-")[1])] = RoundOpening(
                bytes.fromhex(record["digest"]),
                bytes.fromhex(record["checkpoint"]),
                bytes.fromhex(record["salt"]),
            )
        return kept
