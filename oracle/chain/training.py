"""Training tasks as TrainingTasks applies them: the round commitment, the canonical-checkpoint
rule, the trained model's manifest and id, the request tuple, the enums, and typed views and
event decoding over a web3 contract. Node code and tests build their calls from these, so the
chain and the off-chain side cannot drift apart.

The contract's ABI: `load_abi(TRAINING_CONTRACT)`; its address: the deployment record's
`training`.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import Any, cast

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.contract import Contract
from web3.logs import DISCARD

from oracle.chain.client import ChainClient

TRAINING_CONTRACT = "TrainingTasks"
#: Training task ids start above this (audited: 2^128; the replicated oracle's stay below).
TASK_ID_OFFSET = 2 << 128
#: Revealed by every member that finds the request unusable (spec, data or base model).
INVALID_REQUEST_DIGEST = keccak(text="genoracle.invalid-training-request")
#: Revealed by a member that could not fetch the previous round's canonical checkpoint.
CHECKPOINT_WITHHELD_DIGEST = keccak(text="genoracle.checkpoint-withheld")
#: Pass as a request's tolerance for the round tolerance floor.
USE_DEFAULT_TOLERANCE = 0xFFFFFFFF
MANIFEST_FORMAT = "genoracle.trained-model/1"

# The contract's enums, as contracts/interfaces/ITrainingTasks.sol declares them (Solidity is the
# source; tests/contracts/test_training_tasks.py checks these against the ABI's NatSpec order).


class TrainingStatus(enum.IntEnum):
    NONE = 0
    DRAWING = 1
    TRAINING = 2
    COMPLETED = 3
    FAILED = 4


class TrainingPhase(enum.IntEnum):
    NONE = 0
    DRAW = 1
    TRAIN = 2
    REVEAL = 3
    RESOLVABLE = 4
    FINISHED = 5


class TrainingFailure(enum.IntEnum):
    NONE = 0
    NOT_DRAWN = 1
    EXPIRED = 2
    NO_CONSENSUS = 3
    INVALID_REQUEST = 4
    CHECKPOINT_WITHHELD = 5


class TrainingSlashReason(enum.IntEnum):
    NONE = 0
    NOT_COMMITTED = 1
    NOT_REVEALED = 2
    DEVIATED = 3
    CHECKPOINT_WITHHELD = 4


# ----------------------------------------------------------------------------------------------
# Protocol rules (no I/O)
# ----------------------------------------------------------------------------------------------


def round_commitment(
    chain_id: int,
    training: str,
    task_id: int,
    round_index: int,
    member: str,
    digest: bytes,
    checkpoint_sha256: bytes,
    salt: bytes,
) -> bytes:
    """A member's round commitment: keccak256(abi.encode(chainid, trainingTasks, taskId, round,
    member, digest, checkpointSha256, salt)). It binds the member and the round: nobody else can
    open it, and it cannot be replayed in another round."""
    return keccak(
        abi_encode(
            ["uint256", "address", "uint256", "uint8", "address", "bytes32", "bytes32", "bytes32"],
            [
                chain_id,
                to_checksum_address(training),
                task_id,
                round_index,
                to_checksum_address(member),
                digest,
                checkpoint_sha256,
                salt,
            ],
        )
    )


def round_opening(
    position: int, member: str, digest: bytes, checkpoint_sha256: bytes, salt: bytes
) -> tuple[int, str, bytes, bytes, bytes]:
    """A `RoundOpening` for `revealRound`."""
    return (position, to_checksum_address(member), digest, checkpoint_sha256, salt)


def canonical_score(randomness: bytes, checkpoint_sha256: bytes) -> int:
    """keccak256(abi.encode(randomness, checkpointSha256)) as an integer: lowest wins."""
    return int.from_bytes(
        keccak(abi_encode(["bytes32", "bytes32"], [randomness, checkpoint_sha256])), "big"
    )


def canonical_position(
    randomness: bytes, checkpoints: Mapping[int, bytes], paid: Sequence[int]
) -> int:
    """The round's canonical member (TrainingTasks' rule): among the paid positions, the lowest
    `canonical_score(randomness, checkpointSha256)`, ties to the lowest position. `randomness` is
    the round's (`roundRandomness`, or `RoundResolved.randomness`), from the block that sealed the
    round's commitments: no member knew it when it fixed its checkpoint's sha256."""
    if not paid:
        raise ValueError("no paid member to choose the canonical checkpoint from")
    return min(sorted(paid), key=lambda p: canonical_score(randomness, checkpoints[p]))


def trained_manifest(
    base_model_id: bytes, data_sha256: bytes, spec_sha256: bytes, task_id: int, weights: bytes
) -> bytes:
    """The manifest TrainingTasks registers for a completed task (canonical JSON: sorted keys,
    no spaces); the model id is its sha256 (`trained_model_id`)."""
    manifest = {
        "base_model": "0x" + base_model_id.hex(),
        "data_sha256": data_sha256.hex(),
        "format": MANIFEST_FORMAT,
        "spec_sha256": spec_sha256.hex(),
        "training_task": str(task_id),
        "weights_sha256": weights.hex(),
    }
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


def trained_model_id(manifest: bytes) -> bytes:
    return sha256(manifest).digest()


def spec_sha256(spec: bytes) -> bytes:
    """What the contract stores for a request's spec (its canonical JSON)."""
    return sha256(spec).digest()


@dataclass(frozen=True)
class TrainingRequest:
    """A `requestTraining` request (see ITrainingTasks.TrainingRequest)."""

    base_model_id: bytes
    data_sha256: bytes
    seed: int
    rounds: int
    steps_per_round: int
    committee_size: int = 3
    tolerance: int = USE_DEFAULT_TOLERANCE
    callback_gas_limit: int = 0

    def as_tuple(self) -> tuple[bytes, bytes, int, int, int, int, int, int]:
        return (
            self.base_model_id,
            self.data_sha256,
            self.seed,
            self.rounds,
            self.steps_per_round,
            self.committee_size,
            self.tolerance,
            self.callback_gas_limit,
        )


# ----------------------------------------------------------------------------------------------
# Views and events over a web3 contract
# ----------------------------------------------------------------------------------------------


def _named(contract: Contract, fn_name: str, value: Sequence[Any]) -> dict[str, Any]:
    """A struct return value keyed by its ABI component names."""
    abi = cast(list[dict[str, Any]], contract.abi)
    entry = next(
        item for item in abi if item.get("type") == "function" and item.get("name") == fn_name
    )
    components = entry["outputs"][0]["components"]
    return {c["name"]: v for c, v in zip(components, value, strict=True)}


def task_info(contract: Contract, task_id: int) -> dict[str, Any]:
    """`getTrainingTask(taskId)` keyed by field name, enums as their IntEnum."""
    info = _named(contract, "getTrainingTask", contract.functions.getTrainingTask(task_id).call())
    info["status"] = TrainingStatus(info["status"])
    info["phase"] = TrainingPhase(info["phase"])
    return info


def phase_of(contract: Contract, task_id: int) -> TrainingPhase:
    return TrainingPhase(contract.functions.phaseOf(task_id).call())


def members_of(contract: Contract, task_id: int) -> list[str]:
    """The committee by position (the draw's result once its randomness exists)."""
    return [to_checksum_address(m) for m in contract.functions.membersOf(task_id).call()]


def canonical_of(contract: Contract, task_id: int, round_index: int) -> tuple[bytes, str]:
    """The canonical checkpoint sha256 of a resolved round and the member serving it."""
    checkpoint, member = contract.functions.canonicalOf(task_id, round_index).call()
    return bytes(checkpoint), to_checksum_address(member)


def required_fee(contract: Contract, committee: int, rounds: int, callback_gas: int = 0) -> int:
    return int(contract.functions.requiredFee(committee, rounds, callback_gas).call())


def events(contract: Contract, receipt: Any, name: str) -> list[dict[str, Any]]:
    """The `name` events of this contract in `receipt`, as dicts of their arguments."""
    return [
        dict(e["args"])
        for e in getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)
    ]


def training_address(client: ChainClient) -> str | None:
    """The TrainingTasks contract attached to the oracle (None if none)."""
    from oracle.chain.contract import load_abi

    host = client.w3.eth.contract(address=client.oracle.address, abi=load_abi("ITrainingHost"))
    address = str(client.rpc(lambda: host.functions.trainingTasks().call(), "read trainingTasks"))
    return None if int(address, 16) == 0 else to_checksum_address(address)
