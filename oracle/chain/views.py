"""Typed views of the oracle's on-chain state, and the commitment every vote binds to."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.types import BlockIdentifier

from oracle.chain.client import ChainClient
from oracle.chain.reverts import ContractRevertError

# The protocol's enums, as contracts/interfaces/IOracleTypes.sol declares them (Solidity is the
# source; tests/contracts/test_toolchain.py checks these against it, member by member).


class TaskStatus(enum.IntEnum):
    NONE = 0
    DRAWING = 1
    OPEN = 2
    RESOLVED = 3
    NO_CONSENSUS = 4
    EXPIRED = 5


class Phase(enum.IntEnum):
    NONE = 0
    DRAW = 1
    COMMIT = 2
    REVEAL = 3
    RESOLVABLE = 4
    FINISHED = 5


class FailureReason(enum.IntEnum):
    NONE = 0
    NO_CONSENSUS = 1
    EXPIRED = 2
    INVALID_INPUT = 3
    NOT_DRAWN = 4


class SlashReason(enum.IntEnum):
    NONE = 0
    DEVIATED = 1
    NOT_REVEALED = 2
    NOT_COMMITTED = 3


class DrawFailure(enum.IntEnum):
    NONE = 0
    NOT_ENOUGH_OPERATORS = 1
    STALE_RANDOMNESS = 2


def outputs_public(phase: Phase) -> bool:
    """Whether what a member computed for a task (artifact, digest, invalid-input flag, opening)
    may be served: only once the chain says no more commits can come. Before that, anyone who got
    a member's output could commit to the same digest without running the model."""
    return phase in (Phase.REVEAL, Phase.RESOLVABLE, Phase.FINISHED)


class ModelKind(enum.IntEnum):
    IMAGE = 0
    TEXT = 1


@dataclass(frozen=True)
class TaskView:
    """`getTask(taskId)` as the contract reports it now."""

    task_id: int
    requester: str
    model_id: bytes
    status: TaskStatus
    committee_size: int
    tolerance: int
    commit_deadline: int
    reveal_deadline: int
    draw_block: int
    fee: int
    callback_gas_limit: int
    result: bytes
    committee: tuple[str, ...]
    committed: tuple[bool, ...]
    revealed: tuple[bool, ...]
    digests: tuple[bytes, ...]

    def member_index(self, operator: str) -> int | None:
        lowered = operator.lower()
        for index, member in enumerate(self.committee):
            if member.lower() == lowered:
                return index
        return None


@dataclass(frozen=True)
class OperatorView:
    """`getOperator(operator)` as the contract reports it now. Its field names are the ones the
    SDK, the CLI and the node's API use for an operator (oracle.sdk.operators)."""

    address: str
    stake_wei: int
    endpoint: str
    active: bool
    exiting: bool
    withdrawable_at: int
    open_tasks: int
    paused: bool
    """Registered but not drawn, by its own choice (pauseAssignments)."""
    models: tuple[bytes, ...] = ()
    """The models it serves (drawn only for their tasks)."""


@dataclass(frozen=True)
class ModelView:
    model_id: bytes
    kind: ModelKind
    active: bool
    default_tolerance: int
    max_tolerance: int
    digest_scheme: str
    metadata_uri: str


def _field(data: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in data:
            return data[name]
    raise KeyError(f"none of {names} in the contract's struct (fields: {sorted(data)})")


def read_task(
    client: ChainClient, task_id: int, block: BlockIdentifier = "latest"
) -> TaskView | None:
    """The task, or None when the contract does not know it (TaskNotFound or status None)."""
    try:
        data = client.view("getTask", task_id, block=block)
    except ContractRevertError as exc:
        if exc.name == "TaskNotFound":
            return None
        raise
    status = TaskStatus(int(_field(data, "status")))
    if status == TaskStatus.NONE:
        return None
    return TaskView(
        task_id=task_id,
        requester=to_checksum_address(_field(data, "requester")),
        model_id=bytes(_field(data, "modelId")),
        status=status,
        committee_size=int(_field(data, "committeeSize")),
        tolerance=int(_field(data, "tolerance")),
        commit_deadline=int(_field(data, "commitDeadline")),
        reveal_deadline=int(_field(data, "revealDeadline")),
        draw_block=int(_field(data, "drawBlock")),
        fee=int(_field(data, "fee")),
        callback_gas_limit=int(_field(data, "callbackGasLimit")),
        result=bytes(_field(data, "result")),
        committee=tuple(to_checksum_address(a) for a in _field(data, "committee")),
        committed=tuple(bool(b) for b in _field(data, "committed")),
        revealed=tuple(bool(b) for b in _field(data, "revealed")),
        digests=tuple(bytes(d) for d in _field(data, "digests")),
    )


def read_phase(client: ChainClient, task_id: int, block: BlockIdentifier = "latest") -> Phase:
    """The task's phase; pass the `block` a `read_task` used to see both at one state."""
    try:
        return Phase(int(client.view("taskPhase", task_id, block=block)))
    except ContractRevertError as exc:
        if exc.name == "TaskNotFound":
            return Phase.NONE
        raise


def read_operator(client: ChainClient, address: str) -> OperatorView:
    data = client.view("getOperator", to_checksum_address(address))
    return OperatorView(
        address=to_checksum_address(address),
        stake_wei=int(_field(data, "stake")),
        endpoint=str(_field(data, "endpoint")),
        active=bool(_field(data, "active")),
        exiting=bool(_field(data, "exiting")),
        withdrawable_at=int(_field(data, "withdrawableAt")),
        open_tasks=int(_field(data, "openTasks")),
        paused=bool(_field(data, "paused")),
        models=tuple(bytes(m) for m in _field(data, "models")),
    )


def read_model(client: ChainClient, model_id: bytes) -> ModelView | None:
    try:
        data = client.registry().view("getModel", model_id)
    except ContractRevertError as exc:
        if exc.name == "UnknownModel":
            return None
        raise
    scheme = str(_field(data, "digestScheme"))
    if not scheme:
        return None
    return ModelView(
        model_id=model_id,
        kind=ModelKind(int(_field(data, "kind"))),
        active=bool(_field(data, "active")),
        default_tolerance=int(_field(data, "defaultTolerance")),
        max_tolerance=int(_field(data, "maxTolerance")),
        digest_scheme=scheme,
        metadata_uri=str(_field(data, "metadataURI", "metadataUri")),
    )


def read_config(client: ChainClient) -> dict[str, Any]:
    """The contract's `config()` struct as a dict keyed by field name."""
    value = client.view("config")
    if isinstance(value, dict):
        return value
    outputs = client.oracle.functions.config().abi.get("outputs", [])
    return {
        out.get("name") or f"field{i}": item
        for i, (out, item) in enumerate(zip(outputs, value, strict=True))
    }


def commitment(
    chain_id: int, oracle: str, task_id: int, operator: str, digest: bytes, salt: bytes
) -> bytes:
    """keccak256(abi.encode(chainid, oracle, taskId, operator, digest, salt)) as the contract."""
    return keccak(
        abi_encode(
            ["uint256", "address", "uint256", "address", "bytes32", "bytes32"],
            [
                chain_id,
                to_checksum_address(oracle),
                task_id,
                to_checksum_address(operator),
                digest,
                salt,
            ],
        )
    )


def read_version(client: ChainClient) -> str:
    """The protocol version the deployed oracle declares (its VERSION constant)."""
    return str(client.view("VERSION"))


def same_protocol(contract_version: str, package_version: str) -> bool:
    """Whether a deployment and this package speak the same protocol: same major and minor
    version (patch releases change neither the ABI nor the rules)."""
    return contract_version.split(".")[:2] == package_version.split(".")[:2]


@dataclass(frozen=True)
class Draw:
    """A task's committee and the randomness its members compute with."""

    committee: list[str]
    entropy: bytes


def read_draw(client: ChainClient, task_id: int, from_block: int) -> Draw | None:
    """The task's draw: from its CommitteeDrawn log once it is drawn (committeeOf recomputes the
    randomness from blockhash(drawBlock), which reads zero once that block is 256 blocks old),
    else as the draw will give it (committeeOf at the pending block: weights are frozen by then).
    None when no committee can be given (too few operators)."""
    topics = [client.event_topic("CommitteeDrawn"), "0x" + task_id.to_bytes(32, "big").hex()]
    drawn = client.logs(from_block, client.block_number(), topics=topics)
    if drawn:
        args = drawn[-1]["args"]
        members, entropy = args["committee"], args["entropy"]
    else:
        members, entropy = client.view("committeeOf", task_id, block="pending")
    if not members:
        return None
    return Draw([str(to_checksum_address(member)) for member in members], bytes(entropy))


def audited_address(client: ChainClient) -> str | None:
    """The AuditedTasks contract attached to the oracle (None if none)."""
    from oracle.chain.contract import load_abi

    host = client.w3.eth.contract(address=client.oracle.address, abi=load_abi("IAuditHost"))
    address = str(client.rpc(lambda: host.functions.auditedTasks().call(), "read auditedTasks"))
    return None if int(address, 16) == 0 else to_checksum_address(address)
