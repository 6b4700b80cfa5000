"""Backpressure: an overloaded node stops being drawn before its queue outgrows the commit window.

The compute budget bounds what one task costs (half a commit window on the slowest supported
hardware), not how many tasks a flood of requests draws one node for. A node whose queued
inference needs longer than its tasks' commit windows leave misses the last of them and is
slashed, although it is honest. So the node watches its backlog (the inference still to run, at
the pace its own worker measured) and pauses its assignments (`pauseAssignments`: not drawn for
new tasks, the assigned ones still served) once the backlog passes `pause_share` of the commit
window, and resumes once it has drained below `resume_share` (hysteresis: it does not flap with
every job). While every operator of a model is paused, new requests for it revert with
NotEnoughOperators: the flood is refused at the door instead of slashing honest nodes.

Weights freeze when a task's randomness exists, so tasks requested before the pause landed are
still drawn with this node's weight: the window's share above `pause_share` is their margin.

Only a pause the node took itself is lifted by it (an operator's own `genoracle operator pause`
stays), and that pause is recorded in the store before it is sent, so a restarted node still
lifts it.
"""

from __future__ import annotations

import logging
import time

from oracle.chain.client import ChainClient
from oracle.chain.reverts import ContractRevertError
from oracle.chain.views import read_operator
from oracle.config import NodeSettings
from oracle.node.inference_queue import InferenceQueue
from oracle.node.metrics import NodeMetrics
from oracle.node.store import Store

log = logging.getLogger("genoracle.node")

PAUSED_BY_NODE = "assignments_paused_by_node"
"""The store's meta key: "1" while a pause this node sent is in force (or on its way)."""

CHECK_INTERVAL_S = 0.5
"""How often the backlog is compared with the thresholds (a chain read only when one is crossed)."""

REFUSED_RETRY_S = 60.0
"""After the contract refused a pause or resume (the operator is exiting, or not registered), or
found the operator not drawable anyway, wait this long before trying again."""


class Backpressure:
    def __init__(
        self,
        client: ChainClient,
        address: str,
        store: Store,
        inference: InferenceQueue,
        metrics: NodeMetrics,
        settings: NodeSettings,
        *,
        commit_window_s: int,
    ) -> None:
        self._client = client
        self._address = address
        self._store = store
        self._commit_window_s = commit_window_s
        self._inference = inference
        self._metrics = metrics
        self.pause_above_s = settings.pause_share * commit_window_s
        self.resume_below_s = settings.resume_share * commit_window_s
        self.enabled = settings.pause_when_overloaded
        self._pending_tx: str | None = None
        self._next_check = 0.0
        self._decide_after = 0.0  # no pause or resume before (a refusal's or an idle back-off)
        self.paused_by_node = store.get_meta(PAUSED_BY_NODE) == "1"
        """Read once: the store keeps it for a restart, this node is its only writer."""
        self._metrics.assignments_paused.set(1 if self.paused_by_node else 0)

    def _mark(self, paused: bool) -> None:
        self._store.set_meta(PAUSED_BY_NODE, "1" if paused else "0")
        self.paused_by_node = paused
        self._metrics.assignments_paused.set(1 if paused else 0)

    def check(self) -> None:
        """Compare the backlog with the thresholds (at most every CHECK_INTERVAL_S) and pause
        or resume the assignments when one is crossed. Never waits for a receipt: while a sent
        pause or resume is still out, nothing new is sent."""
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + CHECK_INTERVAL_S
        backlog = self._inference.backlog_seconds()
        if backlog is None:
            return  # no pace measured yet for a queued model: neither pause nor resume blindly
        self._metrics.backlog_seconds.set(backlog)
        if not self.enabled or now < self._decide_after or self._transaction_out():
            return
        if not self.paused_by_node and backlog > self.pause_above_s:
            self._pause(backlog)
        elif self.paused_by_node and backlog < self.resume_below_s:
            self._resume(backlog)

    def _transaction_out(self) -> bool:
        """Whether the last pause or resume sent is still on its way (neither mined nor lost)."""
        if self._pending_tx is None:
            return False
        if self._client.receipt(self._pending_tx) is None and self._client.is_known(
            self._pending_tx
        ):
            return True
        self._pending_tx = None
        return False

    def _pause(self, backlog: float) -> None:
        operator = read_operator(self._client, self._address)
        if not operator.active:
            # Paused by its operator, exiting or not registered: nobody draws it anyway. Look
            # again later, not at every check while the backlog stays high.
            self._decide_after = time.monotonic() + REFUSED_RETRY_S
            return
        log.warning(
            "inference backlog %.0f s is over %.0f s of the %d s commit window: pausing "
            "assignments until it drains below %.0f s",
            backlog,
            self.pause_above_s,
            self._commit_window_s,
            self.resume_below_s,
        )
        self._mark(True)  # before it is sent: a node restarted meanwhile still lifts it
        self._send("pauseAssignments")

    def _resume(self, backlog: float) -> None:
        operator = read_operator(self._client, self._address)
        if operator.paused and not operator.exiting:
            log.info("inference backlog %.0f s: resuming assignments", backlog)
            self._send("resumeAssignments")
        self._mark(False)

    def _send(self, function: str) -> None:
        try:
            sent = self._client.send(function)
        except ContractRevertError as exc:
            log.warning("%s refused: %s; trying again in %.0f s", function, exc, REFUSED_RETRY_S)
            self._metrics.reverts.labels(exc.name).inc()
            self._decide_after = time.monotonic() + REFUSED_RETRY_S
            return
        self._metrics.transactions_sent.labels(function).inc()
        self._pending_tx = sent.tx_hash
