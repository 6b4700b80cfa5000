"""A task's outcome as a requester wants to see it: digest, every vote with its distance, payouts.

Shared by the SDK, the CLI and the HTTP API (which serves these dataclasses as its response
bodies) so the three always tell the same story. Payouts come
from the resolving transaction's receipt: its `Credited` and `OperatorSlashed` logs, and the shares
`TaskResolved` announces for the agreeing members.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

from eth_utils.address import to_checksum_address
from pydantic import Field
from web3.types import EventData

from inference.digests import INVALID_INPUT_DIGEST, Tolerance, digests_agree, lane_distances
from oracle.chain.client import ChainClient
from oracle.chain.views import Phase, TaskStatus, TaskView, read_phase, read_task

ZERO_DIGEST = bytes(32)


@dataclass(frozen=True)
class Vote:
    """One committee member's part in a task."""

    operator: str
    committed: bool
    revealed: bool
    digest: str | None
    distances: Annotated[
        tuple[int, int, int, int] | None,
        Field(description="Per-lane Hamming distance to the result (null until resolved)"),
    ]
    agrees: bool | None
    reveal_tx: Annotated[
        str | None,
        Field(description="The transaction that revealed it (one revealBatch can reveal several)"),
    ] = None


@dataclass(frozen=True)
class Payout:
    """What the resolution did to one account."""

    account: str
    credited_wei: int = 0
    slashed_wei: int = 0


@dataclass(frozen=True)
class TaskResult:
    """Everything public about a task, in one structure that serialises to JSON."""

    task_id: int
    status: str
    phase: str
    requester: str
    model_id: str
    tolerance: tuple[int, int, int, int]
    fee_wei: int
    commit_deadline: int
    reveal_deadline: int
    digest: str | None
    invalid_input: bool
    support: int | None
    votes: list[Vote]
    payouts: list[Payout] = field(default_factory=list)
    resolution_tx: str | None = None
    resolution_block: int | None = None

    @property
    def final(self) -> bool:
        return self.status not in (TaskStatus.DRAWING.name.lower(), TaskStatus.OPEN.name.lower())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _reveals(client: ChainClient, task_id: int, from_block: int) -> dict[str, tuple[bytes, str]]:
    """Operator -> (revealed digest, revealing transaction), from DigestRevealed logs (the
    contract may clear its copy of the digest)."""
    topics = [client.event_topic("DigestRevealed"), _task_topic(task_id)]
    return {
        to_checksum_address(event["args"]["operator"]): (
            bytes(event["args"]["digest"]),
            event["transactionHash"].to_0x_hex(),
        )
        for event in client.logs(from_block, client.block_number(), topics=topics)
    }


def _task_topic(task_id: int) -> str:
    return "0x" + task_id.to_bytes(32, "big").hex()


def _votes(view: TaskView, reveals: dict[str, tuple[bytes, str]]) -> list[Vote]:
    tolerance = Tolerance.from_uint32(view.tolerance)
    has_result = view.status == TaskStatus.RESOLVED
    votes = []
    for index, operator in enumerate(view.committee):
        revealed = view.revealed[index]
        digest, reveal_tx = reveals.get(operator, (None, None)) if revealed else (None, None)
        if digest is None and revealed and view.digests[index] != ZERO_DIGEST:
            digest = view.digests[index]
        distances = lane_distances(digest, view.result) if digest and has_result else None
        agrees = digests_agree(digest, view.result, tolerance) if digest and has_result else None
        votes.append(
            Vote(
                operator=operator,
                committed=view.committed[index],
                revealed=revealed,
                digest="0x" + digest.hex() if digest is not None else None,
                distances=distances,
                agrees=agrees,
                reveal_tx=reveal_tx,
            )
        )
    return votes


def _resolution_event(client: ChainClient, task_id: int, from_block: int) -> EventData | None:
    topics = [
        [client.event_topic("TaskResolved"), client.event_topic("TaskFailed")],
        _task_topic(task_id),
    ]
    events = client.logs(from_block, client.block_number(), topics=topics)
    return events[-1] if events else None


def _payouts(
    client: ChainClient, event: EventData, task_id: int
) -> tuple[list[Payout], int | None]:
    receipt = client.receipt(event["transactionHash"].to_0x_hex())
    if receipt is None:
        return [], None
    credited: dict[str, int] = {}
    slashed: dict[str, int] = {}
    support = None
    for item in client.receipt_events(receipt):
        args = item["args"]
        if item["event"] == "Credited":
            account = to_checksum_address(args["account"])
            credited[account] = credited.get(account, 0) + int(args["amount"])
        elif item["event"] == "OperatorSlashed" and int(args["taskId"]) == task_id:
            account = to_checksum_address(args["operator"])
            slashed[account] = slashed.get(account, 0) + int(args["amount"])
        elif item["event"] == "TaskResolved" and int(args["taskId"]) == task_id:
            support = int(args["support"])
            # The agreeing members' shares come with the event (no Credited log for them).
            for member in args["agreeing"]:
                account = to_checksum_address(member)
                credited[account] = credited.get(account, 0) + int(args["share"])
    accounts = sorted(set(credited) | set(slashed))
    payouts = [Payout(a, credited.get(a, 0), slashed.get(a, 0)) for a in accounts]
    return payouts, support


def task_result(client: ChainClient, task_id: int, *, from_block: int = 0) -> TaskResult | None:
    """The task's current public state, with payouts once it is final; None if unknown."""
    view = read_task(client, task_id)
    if view is None:
        return None
    phase = read_phase(client, task_id)
    finished = view.status not in (TaskStatus.DRAWING, TaskStatus.OPEN)
    payouts: list[Payout] = []
    support: int | None = None
    resolution_tx = None
    resolution_block = None
    if finished:
        event = _resolution_event(client, task_id, from_block)
        if event is not None:
            payouts, support = _payouts(client, event, task_id)
            resolution_tx = event["transactionHash"].to_0x_hex()
            resolution_block = int(event["blockNumber"])
    has_result = view.status == TaskStatus.RESOLVED and view.result != ZERO_DIGEST
    return TaskResult(
        task_id=task_id,
        status=view.status.name.lower(),
        phase=Phase(phase).name.lower(),
        requester=view.requester,
        model_id="0x" + view.model_id.hex(),
        tolerance=Tolerance.from_uint32(view.tolerance).lanes,
        fee_wei=view.fee,
        commit_deadline=view.commit_deadline,
        reveal_deadline=view.reveal_deadline,
        digest="0x" + view.result.hex() if has_result else None,
        invalid_input=has_result and view.result == INVALID_INPUT_DIGEST,
        support=support,
        votes=_votes(view, _reveals(client, task_id, from_block) if any(view.revealed) else {}),
        payouts=payouts,
        resolution_tx=resolution_tx,
        resolution_block=resolution_block,
    )
