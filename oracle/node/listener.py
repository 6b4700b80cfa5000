"""Read the oracle's logs in order, with a persisted cursor and a margin for reorgs.

Each poll re-reads `reorg_depth` blocks behind the cursor: a log that a reorg moved to another
block (or that reappears after being dropped) is seen again, and the (tx hash, log index) record
keeps a log from being handled twice. The listener never decides anything from a log alone: the
node re-reads the task's on-chain state before every action, so a log a reorg erased costs nothing.
"""

from __future__ import annotations

import logging
import time

from web3.types import EventData

from oracle.chain.client import ChainClient
from oracle.node.store import Store

log = logging.getLogger(__name__)


class Listener:
    """Turns the chain into a stream of new, decoded oracle events."""

    def __init__(self, client: ChainClient, store: Store, start_block: int) -> None:
        self.client = client
        self.store = store
        self.start_block = start_block
        self.head = 0
        self.head_timestamp = 0
        self._head_seen_at = time.monotonic()
        self.reorged = False
        """True after a poll that saw the head replaced (not merely extended)."""
        self._head_hash: bytes | None = None

    def chain_time(self) -> int:
        """A lower bound on the timestamp of the next block: the head's, plus the time since
        the head was first seen. Blocks that do not come (an automining dev chain with no
        transaction) would otherwise stop the chain's clock for the node, and jobs whose commit
        window has closed would still run."""
        return self.head_timestamp + int(time.monotonic() - self._head_seen_at)

    def poll(self) -> list[EventData]:
        """Events not seen before, from the cursor (minus the reorg margin) to the safe head."""
        settings = self.client.settings
        block = self.client.head()
        head_number, head_hash = int(block["number"]), bytes(block["hash"])
        self.reorged = False
        if head_number == self.head and head_hash == self._head_hash:
            return []  # nothing new, and the head was not replaced: skip the log query
        if self._head_hash is not None and (
            head_number <= self.head
            or (head_number == self.head + 1 and bytes(block["parentHash"]) != self._head_hash)
        ):
            log.warning(
                "reorg: head %d %s replaced by %d %s",
                self.head,
                self._head_hash.hex()[:12],
                head_number,
                head_hash.hex()[:12],
            )
            self.reorged = True
        self.head, self._head_hash = head_number, head_hash
        self.head_timestamp = int(block["timestamp"])
        self._head_seen_at = time.monotonic()
        safe_head = self.head - settings.confirmations
        cursor = self.store.log_cursor()
        if cursor is None:
            cursor = self.start_block - 1
        if cursor > safe_head:
            # The chain is shorter than what we processed: a reorg or a restarted dev chain.
            log.warning("chain head %d is behind the log cursor %d; re-reading", safe_head, cursor)
            cursor = safe_head
        fresh: list[EventData] = []
        # Re-read the margin behind the cursor: a reorg (even one that keeps the height)
        # changes the head's hash and must still surface the logs of the new branch.
        first = max(cursor + 1 - settings.reorg_depth, self.start_block, 0)
        while True:
            last = min(safe_head, max(cursor, first) + settings.log_chunk_blocks)
            if last < first:
                break
            events = self.client.logs(first, last)
            keys = [
                (e["transactionHash"].to_0x_hex(), int(e["logIndex"]), int(e["blockNumber"]))
                for e in events
            ]
            if keys:
                seen_first = self.store.mark_logs_seen(keys)
                fresh.extend(e for e, new in zip(events, seen_first, strict=True) if new)
            if last > cursor:
                cursor = last
                self.store.set_log_cursor(cursor)
            if last >= safe_head:
                break
            first = last + 1
        if self.head % 500 == 0:
            self.store.prune_seen_logs(cursor - 4 * settings.reorg_depth - 1000)
        return fresh
