"""What a task's resolution credited or slashed this node, read from the resolving receipt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oracle.chain.client import ChainClient


def payout_detail(
    client: ChainClient, address: str, task_id: int, candidates: Sequence[str | None]
) -> str:
    """'credited X wei, slashed Y wei' from the first candidate transaction whose receipt holds
    the task's TaskResolved/TaskFailed log (the one whose log we saw, or our own reveal or resolve
    when it closed the task); '' when none does."""
    for tx_hash in candidates:
        receipt = client.receipt(tx_hash) if tx_hash is not None else None
        if receipt is None:
            continue
        events = client.receipt_events(receipt)
        if not any(
            e["event"] in ("TaskResolved", "TaskFailed") and int(e["args"]["taskId"]) == task_id
            for e in events
        ):
            continue
        credited = slashed = 0
        for event in events:
            args = event["args"]
            if event["event"] == "Credited" and args["account"] == address:
                credited += int(args["amount"])
            elif event["event"] == "TaskResolved" and address in args["agreeing"]:
                credited += int(args["share"])
            elif (
                event["event"] == "OperatorSlashed"
                and args["operator"] == address
                and int(args["taskId"]) == task_id
            ):
                slashed += int(args["amount"])
        return f"credited {credited} wei, slashed {slashed} wei"
    return ""


def resolution_tx(client: ChainClient, task_id: int, from_block: int) -> str | None:
    """The transaction that emitted the task's TaskResolved or TaskFailed log, looked up on
    chain: a node that finds a task final before its listener has seen that log (a deadline
    wake-up, a peer's batch resolving it) still knows which receipt holds its payout."""
    topics: list[Any] = [
        [client.event_topic("TaskResolved"), client.event_topic("TaskFailed")],
        "0x" + task_id.to_bytes(32, "big").hex(),
    ]
    for event in client.logs(from_block, client.block_number(), topics=topics):
        return str(event["transactionHash"].to_0x_hex())
    return None
