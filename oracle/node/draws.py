"""Which requests this node is drawn for, and the keeper's round for the others.

A request waits for its committee: the draw uses the hash of the request's block, known from the
next block on. Once it exists, the committee and randomness are read (oracle.chain.views.read_draw:
from the CommitteeDrawn log, or as the draw will give them). A member's commit draws the
task on chain if nobody has yet; a task nobody drew in time is drawn by a keeper.

The randomness is the request block's hash, which the chain forgets 256 blocks later: a task
still undrawn then can never be drawn (CommitteeNotDrawn, StaleRandomness) and its members'
work is lost. The next request draws every ready task, but the last requests of a burst wait
for their members' commits, which can come later than 256 blocks on a fast chain (a busy Anvil
mines ten blocks a second). So every node serving the model draws a task still undrawn
DRAW_MARGIN_BLOCKS after its request, member or not.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from web3.types import EventData

from oracle.chain.client import ChainClient
from oracle.chain.reverts import ContractRevertError
from oracle.chain.views import Phase, read_draw, read_phase
from oracle.node.sender import TransactionSender

log = logging.getLogger("genoracle.node")

BLOCKHASH_REACH = 256
"""blockhash(n) is zero unless n is one of the 256 blocks before the current one (EVM rule)."""

DRAW_MARGIN_BLOCKS = BLOCKHASH_REACH // 2
"""Blocks after its request at which a task still undrawn is drawn by any node serving its
model: half of the blocks within which its randomness (the request block's hash) exists."""


@dataclass(frozen=True)
class Assignment:
    """This node is a member of the request's committee, at `position`."""

    request: EventData
    committee: list[str]
    entropy: bytes
    position: int


class CommitteeWatch:
    def __init__(
        self,
        client: ChainClient,
        sender: TransactionSender,
        address: str,
        served_models: set[bytes],
        keeper_delay_s: float | None,
    ) -> None:
        self._client = client
        self._sender = sender
        self._address = address.lower()
        self._served = served_models
        self._keeper_delay_s = keeper_delay_s
        self._awaiting: dict[int, EventData] = {}  # served requests not yet looked at
        self._keeper_watch: dict[int, float] = {}  # others' tasks -> when to draw them ourselves
        self._stale_watch: dict[int, int] = {}  # undrawn served tasks -> block to draw them at

    def on_request(self, event: EventData) -> None:
        """A TaskRequested log. Handling a log makes no RPC call, so a failing call cannot lose
        the task: it waits here until `check` can read its committee."""
        args = event["args"]
        if bytes(args["modelId"]) in self._served:
            self._awaiting[int(args["taskId"])] = event

    def waiting(self, task_id: int) -> bool:
        return task_id in self._awaiting

    def check(self, head: int) -> list[Assignment]:
        """The requests whose randomness exists by block `head` and that drew this node."""
        assignments = []
        for task_id, event in list(self._awaiting.items()):
            if int(event["blockNumber"]) > head:
                continue
            draw = read_draw(self._client, task_id, int(event["blockNumber"]))
            del self._awaiting[task_id]
            if draw is None:
                continue
            self._stale_watch[task_id] = int(event["blockNumber"]) + DRAW_MARGIN_BLOCKS
            lowered = [member.lower() for member in draw.committee]
            if self._address in lowered:
                position = lowered.index(self._address)
                assignments.append(Assignment(event, draw.committee, draw.entropy, position))
            elif self._keeper_delay_s is not None:
                self._keeper_watch[task_id] = time.monotonic() + self._keeper_delay_s
        return assignments

    def drawn(self, task_id: int) -> None:
        """A CommitteeDrawn log: the task needs no keeper any more."""
        self._keeper_watch.pop(task_id, None)
        self._stale_watch.pop(task_id, None)

    def keep(self, head: int) -> None:
        """The keeper's round: a task of a model we serve whose members have not drawn it (by
        committing) in time, or any such task still undrawn DRAW_MARGIN_BLOCKS after its request
        (by block `head`), is drawn here, with every other ready task, in one drawCommittees."""
        now = time.monotonic()
        due = {task_id for task_id, when in self._keeper_watch.items() if when <= now}
        due |= {task_id for task_id, block in self._stale_watch.items() if head >= block}
        if not due:
            return
        for task_id in due:
            self._keeper_watch.pop(task_id, None)
            self._stale_watch.pop(task_id, None)
        if all(read_phase(self._client, task_id) != Phase.DRAW for task_id in due):
            return
        try:
            sent = self._client.send(
                "drawCommittees",
                self._sender.max_pending_draws,
                gas_floor=self._sender.commit_gas(7),
            )
        except ContractRevertError as exc:
            log.info("keeper: drawCommittees refused: %s", exc)
            return
        log.info("keeper: drew the committees of waiting tasks %s (%s)", sorted(due), sent.tx_hash)
