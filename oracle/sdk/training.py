"""Requester SDK, training tasks (TrainingTasks): a committee fine-tunes a registered model (the
base, Digits-Gen) on your data in R synchronised rounds of S steps; each round is decided by the
tolerant majority of the members' round digests, and the final checkpoint is registered as a new
model derived from the base.

    data = load_training_data(Path("digits.godata"))   # or a folder <digit>/*.png
    task = submit_training(chain, data, rounds=3, steps=10)
    outcome = wait_training(chain, task.task_id, timeout_s=1800)
    print(outcome.model_id)                           # a model id for later generation tasks

The data never goes on chain: the request carries its sha256 (and the spec, with the
hyperparameters), and `submit_training` pushes the data's canonical bytes to each drawn member
(POST /training/data on its registered endpoint), which checks them against the hash; members
that were not reached fetch them from those that were.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from eth_utils.address import to_checksum_address

from oracle.chain.client import ChainClient
from oracle.chain.contract import load_abi
from oracle.chain.training import (
    TRAINING_CONTRACT,
    TrainingFailure,
    TrainingRequest,
    TrainingSlashReason,
    TrainingStatus,
    required_fee,
    training_address,
)
from oracle.chain.views import read_operator
from oracle.errors import OracleError, TaskTimeoutError

if TYPE_CHECKING:
    from inference.training.data import TrainingData
    from inference.training.spec import TrainingSpec

DEFAULT_LEARNING_RATE = 5e-4
DEFAULT_BATCH_SIZE = 16
ZERO_ADDRESS = "0x" + "00" * 20


def training_client(chain: ChainClient) -> ChainClient:
    """A client of the TrainingTasks contract attached to `chain`'s oracle (same RPC, account)."""
    address = training_address(chain)
    if address is None:
        raise OracleError(f"oracle {chain.address} has no TrainingTasks attached")
    return ChainClient(
        chain.settings, chain.account, oracle_address=address, abi=load_abi(TRAINING_CONTRACT)
    )


def load_training_data(source: str | Path) -> TrainingData:
    """Training data from a data file (canonical bytes, inference/training/data.py), a folder of
    images in one sub-folder per digit (`3/any-name.png`: grey or colour, resized to 16x16), or
    `demo` (the bundled demo set: scikit-learn digits in a bolder hand)."""
    import numpy as np

    from inference.digits.model import IMAGE_SIZE
    from inference.training.data import TrainingData, TrainingDataError, demo_dataset, load_data

    if str(source) == "demo":
        return demo_dataset()
    path = Path(source).expanduser()
    if path.is_file():
        return load_data(path)
    if not path.is_dir():
        raise TrainingDataError(f"{path}: no such file or folder")
    from PIL import Image, UnidentifiedImageError

    images: list[Any] = []
    labels: list[int] = []
    for label in range(10):
        for image_path in sorted((path / str(label)).glob("*")):
            if not image_path.is_file():
                continue
            try:
                with Image.open(image_path) as image:
                    grey = image.convert("L").resize(
                        (IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR
                    )
                    images.append(np.asarray(grey, dtype=np.uint8))
            except (UnidentifiedImageError, OSError) as exc:
                raise TrainingDataError(f"{image_path}: not an image ({exc})") from None
            labels.append(label)
    if not images:
        raise TrainingDataError(
            f"{path} holds no images in digit folders (0/ .. 9/, one image file each)"
        )
    return TrainingData(np.stack(images), np.asarray(labels, dtype=np.uint8))


@dataclass(frozen=True)
class SubmittedTraining:
    """A training request on chain, and the members its data reached."""

    task_id: int
    tx_hash: str
    block_number: int
    fee_wei: int
    spec: TrainingSpec
    data_sha256: str
    members: tuple[str, ...] = ()
    data_pushed_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoundResult:
    """One resolved (or failed) round: who was paid, who slashed and why, the canonical
    checkpoint every member continues from."""

    round: int
    paid: tuple[str, ...]
    slashed: dict[str, str]
    canonical_checkpoint: str | None
    canonical_member: str | None


@dataclass(frozen=True)
class TrainingOutcome:
    task_id: int
    status: str  # "drawing", "training", "completed", "failed"
    rounds: tuple[RoundResult, ...]
    model_id: str | None = None
    """The registered model's id (0x hex) once completed."""
    weights_sha256: str | None = None
    failure: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.status in ("completed", "failed")


def build_spec(
    base_model_id: bytes,
    data_sha256: str,
    rounds: int,
    steps: int,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int | None = None,
) -> TrainingSpec:
    """The spec of a request (checked: TrainingSpecError names every problem)."""
    import secrets

    from inference.training.spec import parse_spec

    return parse_spec(
        {
            "base_model": "0x" + base_model_id.hex(),
            "data_sha256": data_sha256,
            "learning_rate": float(learning_rate),
            "batch_size": int(batch_size),
            "seed": secrets.randbits(62) if seed is None else int(seed),
            "rounds": int(rounds),
            "steps_per_round": int(steps),
        }
    )


def submit_training(
    chain: ChainClient,
    data: TrainingData,
    *,
    rounds: int,
    steps: int,
    base_model: str | bytes = "digits",
    learning_rate: float = DEFAULT_LEARNING_RATE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int | None = None,
    committee_size: int = 3,
    fee_wei: int | None = None,
    callback_gas_limit: int = 0,
    push_timeout_s: float = 60.0,
) -> SubmittedTraining:
    """Request a fine-tune of `base_model` on `data`, then push the data to the drawn members.
    Returns once the request is mined and the data reached the members (or `push_timeout_s`)."""
    from oracle.sdk.client import model_id_of

    base_id = model_id_of(base_model)
    data_sha256 = data.sha256()
    spec = build_spec(base_id, data_sha256, rounds, steps, learning_rate, batch_size, seed)
    training = training_client(chain)
    request = TrainingRequest(
        base_model_id=base_id,
        data_sha256=bytes.fromhex(data_sha256),
        seed=spec.seed,
        rounds=rounds,
        steps_per_round=steps,
        committee_size=committee_size,
        callback_gas_limit=callback_gas_limit,
    )
    fee = (
        required_fee(training.oracle, committee_size, rounds, callback_gas_limit)
        if fee_wei is None
        else fee_wei
    )
    receipt = training.transact(
        "requestTraining", request.as_tuple(), spec.canonical_json(), value=fee
    )
    requested = [e for e in training.receipt_events(receipt) if e["event"] == "TrainingRequested"]
    if not requested:
        raise OracleError("requestTraining was mined but emitted no TrainingRequested event")
    task_id = int(requested[0]["args"]["taskId"])
    members, pushed = push_data(chain, training, task_id, data.canonical_bytes(), push_timeout_s)
    return SubmittedTraining(
        task_id,
        receipt["transactionHash"].to_0x_hex(),
        int(receipt["blockNumber"]),
        fee,
        spec,
        data_sha256,
        tuple(members),
        tuple(pushed),
    )


def push_data(
    chain: ChainClient,
    training: ChainClient,
    task_id: int,
    data: bytes,
    timeout_s: float = 60.0,
    poll_s: float = 0.5,
) -> tuple[list[str], list[str]]:
    """Push the data to every drawn member's endpoint (retrying while a member has not seen the
    request yet); returns (members, members that took it)."""
    deadline = time.monotonic() + timeout_s
    members: list[str] = []
    while time.monotonic() < deadline:
        members = [str(to_checksum_address(m)) for m in training.view("membersOf", task_id)]
        if members and all(m != ZERO_ADDRESS for m in members):
            break
        time.sleep(poll_s)
    else:
        return members, []
    pushed: list[str] = []
    waiting = list(members)
    while waiting and time.monotonic() < deadline:
        for member in list(waiting):
            endpoint = read_operator(chain, member).endpoint.rstrip("/")
            try:
                response = httpx.post(
                    f"{endpoint}/training/data",
                    content=data,
                    headers={"content-type": "application/octet-stream"},
                    timeout=30,
                )
            except httpx.HTTPError:
                continue
            if response.status_code == 200:
                pushed.append(member)
                waiting.remove(member)
        if waiting:
            time.sleep(poll_s)
    return members, pushed


def training_outcome(training: ChainClient, task_id: int, from_block: int = 0) -> TrainingOutcome:
    """A training task as it stands now, with every round resolved so far."""
    info = training.view("getTrainingTask", task_id)
    status = TrainingStatus(int(info["status"]))
    rounds: dict[int, dict[str, Any]] = {}
    failure: str | None = None
    for event in training.logs(from_block, training.block_number()):
        args = event["args"]
        if int(args.get("taskId", -1)) != task_id:
            continue
        name = event["event"]
        if name == "RoundResolved":
            entry = rounds.setdefault(int(args["round"]), {"slashed": {}})
            entry["paid"] = tuple(to_checksum_address(p) for p in args["paid"])
            entry["checkpoint"] = "0x" + bytes(args["canonicalCheckpoint"]).hex()
            entry["member"] = to_checksum_address(args["canonicalMember"])
        elif name == "TrainingSlashed":
            entry = rounds.setdefault(int(args["round"]), {"slashed": {}})
            reason = TrainingSlashReason(int(args["reason"])).name.lower().replace("_", "-")
            entry["slashed"][to_checksum_address(args["operator"])] = reason
        elif name == "TrainingFailed":
            failure = TrainingFailure(int(args["reason"])).name.lower().replace("_", "-")
    results = tuple(
        RoundResult(
            r,
            tuple(entry.get("paid", ())),
            dict(entry["slashed"]),
            entry.get("checkpoint"),
            entry.get("member"),
        )
        for r, entry in sorted(rounds.items())
    )
    model = bytes(info["modelId"])
    completed = status == TrainingStatus.COMPLETED
    return TrainingOutcome(
        task_id,
        status.name.lower(),
        results,
        model_id="0x" + model.hex() if completed else None,
        weights_sha256=results[-1].canonical_checkpoint if completed and results else None,
        failure=failure,
    )


def wait_training(
    chain: ChainClient,
    task_id: int,
    *,
    timeout_s: float = 1800.0,
    poll_s: float = 1.0,
    from_block: int = 0,
    on_round: Callable[[RoundResult], None] | None = None,
) -> TrainingOutcome:
    """Block until the task completed (the outcome names the registered model id) or failed;
    `on_round` is called once per round as it resolves. TaskTimeoutError after `timeout_s`."""
    training = training_client(chain)
    deadline = time.monotonic() + timeout_s
    reported: set[int] = set()
    while True:
        outcome = training_outcome(training, task_id, from_block)
        for result in outcome.rounds:
            if result.round not in reported and (result.paid or outcome.final):
                reported.add(result.round)
                if on_round is not None:
                    on_round(result)
        if outcome.final:
            return outcome
        if time.monotonic() > deadline:
            raise TaskTimeoutError(
                f"training task {task_id} is still {outcome.status} after {timeout_s:.0f} s"
            )
        time.sleep(poll_s)
