"""A task's state machine in this node: each look at a task reads the chain, then takes the one
step the task needs now (compute, commit, reveal, resolve, or record the outcome).

Every step first re-reads the task on chain, so a step is idempotent: after a crash, a reorg or an
RPC outage the node looks at what the chain says, not at what it believes.

- The digest and salt are stored before the commit is signed; the signed transaction's hash is
  stored before it is broadcast. A restarted node finds a commit that was mined (it reveals), one
  still pending (it waits), or one that never made it (it commits again with the same salt).
- A window that closed before our step is recorded as MISSED, with the reason, and left alone.
- An input the model rejects is answered with the reserved INVALID_INPUT_DIGEST and recorded as a
  rejection: bad requests end cleanly and honest verifiers are still paid.

Long module: the state machine's steps hand tasks to each other; one file keeps every
transition in view.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from inference.digests import Tolerance
from oracle.chain.client import ChainClient
from oracle.chain.reverts import ContractRevertError
from oracle.chain.views import (
    Phase,
    TaskStatus,
    TaskView,
    commitment,
    read_draw,
    read_phase,
    read_task,
)
from oracle.config import NodeConfig
from oracle.errors import ChainUnavailableError
from oracle.node.aggregation import Opening, RevealAggregator
from oracle.node.conduct import Conduct
from oracle.node.draws import BLOCKHASH_REACH, Assignment
from oracle.node.inference_queue import InferenceDropped, InferenceFailure, InferenceQueue
from oracle.node.listener import Listener
from oracle.node.metrics import NodeMetrics
from oracle.node.payouts import payout_detail, resolution_tx
from oracle.node.scheduler import Scheduler
from oracle.node.sender import Fate, TransactionSender
from oracle.node.states import ACTIVE_STATES, TaskState
from oracle.node.store import ArtifactRecord, Store, TaskRecord, VoteRecord
from oracle.node.worker import InferenceOutcome

log = logging.getLogger("genoracle.node")

_ARTIFACT_SUFFIX = {"image/png": ".png", "text/plain": ".txt", "text/plain; charset=utf-8": ".txt"}


class TaskSteps:
    def __init__(
        self,
        *,
        config: NodeConfig,
        address: str,
        client: ChainClient,
        store: Store,
        listener: Listener,
        scheduler: Scheduler,
        sender: TransactionSender,
        inference: InferenceQueue,
        aggregator: RevealAggregator,
        conduct: Conduct,
        metrics: NodeMetrics,
        artifacts_dir: Path,
    ) -> None:
        self._config = config
        self._address = address
        self._client = client
        self._store = store
        self._listener = listener
        self._scheduler = scheduler
        self._sender = sender
        self._inference = inference
        self._aggregator = aggregator
        self._conduct = conduct
        self._metrics = metrics
        self._artifacts_dir = artifacts_dir
        self._resolution_tx: dict[int, str] = {}
        self._payout_unread: set[int] = set()  # final tasks whose resolving log is not found yet
        self._looked_erased: set[int] = set()  # tasks whose last look lacked our transaction

    # -- entry points ----------------------------------------------------------------------------

    def take_on(self, assignment: Assignment) -> None:
        """This node was drawn: store the task and look at it at once."""
        args = assignment.request["args"]
        task_id = int(args["taskId"])
        model_id = bytes(args["modelId"])
        floor = self._inference.models[model_id].floor_tolerance
        tolerance = int(args["tolerance"])
        if not Tolerance.from_uint32(tolerance).covers(Tolerance.from_uint32(floor)):
            # The contract refuses such requests; a node of another build must not let honest
            # hardware noise be slashed as deviation either.
            self._reject(
                task_id,
                f"tolerance 0x{tolerance:08x} is below the model's honest floor 0x{floor:08x}",
            )
            return
        added = self._store.add_task(
            task_id=task_id,
            model_id=model_id,
            input=bytes(args["input"]),
            entropy=assignment.entropy,
            committee=assignment.committee,
            member_index=assignment.position,
            tolerance=tolerance,
            commit_deadline=int(args["commitDeadline"]),
            reveal_deadline=int(args["revealDeadline"]),
            fee=int(args["fee"]),
            request_block=int(assignment.request["blockNumber"]),
            request_tx=assignment.request["transactionHash"].to_0x_hex(),
        )
        if not added:
            return
        self._metrics.tasks_assigned.inc()
        log.info("task %d: drawn (model %s)", task_id, self._inference.models[model_id].name)
        self._scheduler.watch_deadline(task_id, int(args["commitDeadline"]))
        self._scheduler.schedule(task_id)

    def resolved_by(self, task_id: int, tx_hash: str) -> None:
        """The transaction whose log says the task ended (for the payout it records); other
        operators' tasks are not kept."""
        task = self._store.get_task(task_id)
        if task is not None and (task.state in ACTIVE_STATES or task_id in self._payout_unread):
            self._resolution_tx[task_id] = tx_hash

    def record_late_payouts(self) -> None:
        """Record the payout of each task found final before any lookup found its resolving
        transaction (an RPC serving a block's state before its logs), once its log is read."""
        for task_id in sorted(self._payout_unread):
            tx_hash = self._resolution_tx.get(task_id)
            if tx_hash is None:
                continue
            detail = payout_detail(self._client, self._address, task_id, [tx_hash])
            self._payout_unread.discard(task_id)
            del self._resolution_tx[task_id]
            if detail:
                self._store.journal(task_id, "payout", detail)
                log.info("task %d: %s", task_id, detail)

    def collect_inference(self) -> None:
        """Record each finished job's digest; a job dropped from the queue because its commit
        window closed (by the chain's time) is a missed commit, not a rejected input."""
        for task_id, result in self._inference.collect(self._listener.chain_time()):
            task = self._store.get_task(task_id)
            if task is None or task.state != TaskState.ASSIGNED:
                continue
            if isinstance(result, InferenceDropped):
                self._finish_step(task_id, TaskState.MISSED, result.reason, "commit")
                continue
            if isinstance(result, InferenceFailure):
                log.error("task %d: %s", task_id, result.reason)
                self._reject(task_id, result.reason)
                self._finish_step(task_id, TaskState.MISSED, result.reason, "commit")
                continue
            self._record_outcome(task, result)

    def advance(self, task_id: int) -> None:
        """Look at the chain, then take the one step the task needs now (if any).

        A step that fails (the RPC went away mid-step, a bug) leaves the task scheduled again:
        nothing else would wake it before its deadline (no event comes for a commit that sits
        in a mempool which a restarted RPC node has forgotten)."""
        self._scheduler.unschedule(task_id)
        try:
            self._take_step(task_id)
        except ChainUnavailableError:
            self._scheduler.schedule(task_id, self._config.chain.poll_interval_s)
            raise
        except Exception:
            self._scheduler.schedule(task_id, self._config.node.recheck_interval_s)
            raise

    # -- inference ---------------------------------------------------------------------------------

    def _too_late_to_compute(self, task: TaskRecord) -> bool:
        """An old request (a restart, a node catching up): computing is pointless once the task
        ended or its windows are over. A fresh request needs no look at the chain."""
        if task.request_block >= self._listener.head:
            return False
        block = self._client.block_number()  # both reads at one state (see _take_step)
        view = read_task(self._client, task.task_id, block=block)
        return view is not None and (
            view.status not in (TaskStatus.DRAWING, TaskStatus.OPEN)
            or read_phase(self._client, task.task_id, block=block)
            in (Phase.RESOLVABLE, Phase.FINISHED)
        )

    def _record_outcome(self, task: TaskRecord, outcome: InferenceOutcome) -> None:
        if outcome.invalid_reason is not None:
            # Recorded for the operator only: a public counter (or a near-zero inference time)
            # would tell a lazy peer "invalid" before the commit phase is over.
            reason = f"invalid input, answering the reserved digest: {outcome.invalid_reason}"
            self._store.add_rejection(task.task_id, reason)
            log.warning("task %s: %s", task.task_id, reason)
        if outcome.artifact is not None and outcome.media_type is not None:
            self._save_artifact(task.task_id, outcome)
        salt = os.urandom(32)
        vote_commitment = commitment(
            self._client.chain_id,
            self._client.address,
            task.task_id,
            self._address,
            outcome.digest,
            salt,
        )
        self._store.record_vote(
            task.task_id,
            digest=outcome.digest,
            salt=salt,
            commitment=vote_commitment,
            invalid_input=outcome.invalid_reason is not None,
            inference_seconds=outcome.seconds,
        )
        if outcome.invalid_reason is None:
            self._metrics.inference_seconds.observe(outcome.seconds)
        # The digest itself is not logged: the log is not public, but it is not the secret's
        # place either before the commit phase is over.
        log.info("task %d: computed in %.3fs", task.task_id, outcome.seconds)
        self.advance(task.task_id)

    def _save_artifact(self, task_id: int, outcome: InferenceOutcome) -> None:
        assert outcome.artifact is not None and outcome.media_type is not None
        suffix = _ARTIFACT_SUFFIX.get(outcome.media_type, ".bin")
        path = self._artifacts_dir / f"{task_id}{suffix}"
        temporary = path.with_suffix(suffix + ".tmp")
        temporary.write_bytes(outcome.artifact)
        temporary.replace(path)
        self._store.save_artifact(
            ArtifactRecord(
                task_id=task_id,
                path=str(path),
                media_type=outcome.media_type,
                sha256=hashlib.sha256(outcome.artifact).hexdigest(),
                size=len(outcome.artifact),
                digest=outcome.digest,
                fingerprint=outcome.fingerprint,
                token_ids=outcome.token_ids,
            )
        )

    def _reject(self, task_id: int | None, reason: str) -> None:
        self._metrics.rejections.inc()
        self._store.add_rejection(task_id, reason)
        log.warning("task %s: %s", task_id, reason)

    # -- the state machine -------------------------------------------------------------------------

    def _finish_step(self, task_id: int, state: TaskState, detail: str, step: str = "") -> None:
        self._store.set_state(task_id, state, detail)
        self._scheduler.unschedule(task_id)
        if state == TaskState.MISSED:
            self._metrics.windows_missed.labels(step or "unknown").inc()
            log.warning("task %d: missed: %s", task_id, detail)
        elif state == TaskState.ABANDONED:
            log.info("task %d: abandoned: %s", task_id, detail)

    def _take_step(self, task_id: int) -> None:
        task = self._store.get_task(task_id)
        if task is None or task.state not in ACTIVE_STATES:
            return
        if task.state == TaskState.ASSIGNED:
            if not self._inference.running(task_id) and self._too_late_to_compute(task):
                detail = "found after its commit window closed"
                self._finish_step(task_id, TaskState.MISSED, detail, "commit")
            else:
                self._inference.submit(task)
            return
        # The task and its phase are read at one block: read apart, a reveal (a peer's batch
        # carrying our opening) landing in between shows "not revealed" and a phase past the
        # reveal window, and a vote revealed and paid would be recorded as missed.
        block = self._client.block_number()
        view = read_task(self._client, task_id, block=block)
        if view is None:
            # The request itself was erased by a reorg (or the chain forgot it). It may come
            # back in the new branch; once the chain is well past it, give up on it.
            horizon = task.request_block + 4 * self._config.chain.reorg_depth + 16
            if self._listener.head > horizon:
                detail = "the request is no longer on chain"
                self._finish_step(task_id, TaskState.ABANDONED, detail)
                return
            self._store.journal(task_id, "waiting", "task not found on chain (reorg?)")
            self._scheduler.schedule(task_id, self._config.node.recheck_interval_s)
            return
        vote = self._store.get_vote(task_id)
        if view.status == TaskStatus.DRAWING and block + 1 > view.draw_block + BLOCKHASH_REACH:
            self._undrawable(task, vote, view)  # its randomness is gone: it can never be drawn
            return
        if view.status == TaskStatus.DRAWING:
            # Nobody has drawn it on chain yet; our commit draws it (we know we are drawn).
            assert vote is not None, f"task {task_id} in state {task.state} without a vote"
            if task.state == TaskState.COMPUTED:
                self._step_commit(task, vote, Phase.COMMIT, committed=False)
            elif task.state == TaskState.COMMIT_SENT:
                self._step_commit_sent(task, vote, Phase.COMMIT, committed=False)
            else:
                self._scheduler.schedule(task_id, self._config.chain.poll_interval_s)
            return
        if not view.committee:
            self._undrawable(task, vote, view)
            return
        index = view.member_index(self._address)
        if index is None:
            detail = "not a committee member on chain any more (the draw changed in a reorg)"
            self._finish_step(task_id, TaskState.ABANDONED, detail)
            return
        if view.status != TaskStatus.OPEN:
            self._finish(task, view)
            return
        assert vote is not None, f"task {task_id} in state {task.state} without a stored vote"
        phase = read_phase(self._client, task_id, block=block)
        if phase in (Phase.DRAW, Phase.FINISHED):
            # The task's status said open (drawn, not ended), its phase says not drawn yet or
            # ended: the two reads straddled the transaction that drew or ended it (Anvil can
            # serve a block number's state mid-mining; a peer's commit draws the task). Look
            # again; the next look sees one state. Taken as it came, "draw" would record our
            # commit as missed and the task would wait for its commit deadline.
            self._scheduler.schedule(task_id, self._config.chain.poll_interval_s)
            return
        state = self._undo_erased(task, view.committed[index], view.revealed[index])
        if state is None:
            self._scheduler.schedule(task_id, self._config.chain.poll_interval_s)
        elif state == TaskState.COMPUTED:
            self._step_commit(task, vote, phase, view.committed[index])
        elif state == TaskState.COMMIT_SENT:
            self._step_commit_sent(task, vote, phase, view.committed[index])
        elif state == TaskState.COMMITTED:
            self._step_reveal(task, vote, phase, view)
        elif state == TaskState.REVEAL_SENT:
            self._step_reveal_sent(task, vote, phase, view)
        elif state == TaskState.REVEALED:
            self._step_resolve(task, vote, phase)
        if not self._scheduler.is_scheduled(task_id):
            current = self._store.get_task(task_id)
            if current is not None and current.state in ACTIVE_STATES:
                # A safety net: nothing else may wake the task before its deadline.
                self._scheduler.schedule(task_id, self._config.node.recheck_interval_s)

    def _undo_erased(self, task: TaskRecord, committed: bool, revealed: bool) -> TaskState | None:
        """The state the chain allows: a reorg can erase our commit or our reveal. A view that
        lacks a transaction we saw land is believed only when the next look, a poll interval
        later, still lacks it (None: look again): the RPC can answer a block number before the
        block holding our transaction, and undoing then re-sent a commit for nothing (about 1
        in 900 votes under load)."""
        state = task.state
        after_commit = (TaskState.COMMITTED, TaskState.REVEAL_SENT, TaskState.REVEALED)
        erased_commit = state in after_commit and not committed
        erased_reveal = state == TaskState.REVEALED and not revealed
        if not (erased_commit or erased_reveal):
            self._looked_erased.discard(task.task_id)
            return state
        if task.task_id not in self._looked_erased:
            self._looked_erased.add(task.task_id)
            return None
        self._looked_erased.discard(task.task_id)
        if erased_commit:
            self._store.journal(task.task_id, "reorg", "our commit is no longer on chain")
            state = TaskState.COMPUTED
            self._store.set_state(task.task_id, state, "commit erased by a reorg; committing again")
        elif erased_reveal:
            self._store.journal(task.task_id, "reorg", "our reveal is no longer on chain")
            state = TaskState.COMMITTED
            self._store.set_state(task.task_id, state, "reveal erased by a reorg; revealing again")
        return state

    def _step_commit(
        self, task: TaskRecord, vote: VoteRecord, phase: Phase, committed: bool
    ) -> None:
        if committed:
            self._store.set_state(task.task_id, TaskState.COMMITTED, "commit found on chain")
            self._scheduler.schedule(task.task_id)
        elif not self._conduct.commits():
            detail = f"conduct {self._conduct.name!r} does not commit"
            self._finish_step(task.task_id, TaskState.ABANDONED, detail)
        elif phase == Phase.COMMIT:
            if not self._redrawn(task):
                self._send(task, "commit", task.task_id, vote.commitment)
        else:
            self._finish_step(
                task.task_id,
                TaskState.MISSED,
                f"commit window closed (phase {phase.name.lower()}) before the commit was on chain",
                "commit",
            )

    def _redrawn(self, task: TaskRecord) -> bool:
        """Whether the draw changed since we took the task on (a reorg replaced the request's
        block, so its randomness and maybe its committee changed): then the vote computed from
        the old randomness is dropped before it is committed, and the task is taken on again
        with the chain's draw (or abandoned if we are no longer drawn). A commit of the old
        digest would be outvoted by the members who computed with the real randomness."""
        draw = read_draw(self._client, task.task_id, task.request_block)
        if draw is None or (
            draw.entropy == task.entropy and draw.committee == list(task.committee)
        ):
            return False
        self._inference.cancel(task.task_id)
        lowered = [member.lower() for member in draw.committee]
        if self._address.lower() not in lowered:
            detail = "not drawn any more: the request's block was replaced"
            self._finish_step(task.task_id, TaskState.ABANDONED, detail)
            return True
        position = lowered.index(self._address.lower())
        self._store.redraw(
            task.task_id, committee=draw.committee, member_index=position, entropy=draw.entropy
        )
        log.warning("task %d: the draw changed (reorg); computing again", task.task_id)
        self._scheduler.schedule(task.task_id)
        return True

    def _step_commit_sent(
        self, task: TaskRecord, vote: VoteRecord, phase: Phase, committed: bool
    ) -> None:
        if self._sent_and_settled(task, "commit", vote.commit_tx, committed, TaskState.COMPUTED):
            self._step_commit(task, vote, phase, committed=False)

    def _sent_and_settled(
        self, task: TaskRecord, step: str, tx_hash: str | None, landed: bool, back: TaskState
    ) -> bool:
        """After sending `step`: once the chain shows it `landed`, move on when confirmed; while
        the transaction is pending, wait. True when it failed or was lost: the task went `back`
        and the caller takes the step again."""
        if landed:
            done = TaskState.COMMITTED if step == "commit" else TaskState.REVEALED
            self._mark_done_if_confirmed(task.task_id, tx_hash, done)
            return False
        fate = self._sender.fate(tx_hash)
        if fate == Fate.PENDING:
            self._scheduler.schedule(task.task_id, self._config.chain.poll_interval_s)
            return False
        self._store.journal(task.task_id, f"{step}_{fate.value}", tx_hash or "")
        self._store.set_state(task.task_id, back, f"{step} transaction {fate.value}")
        return True

    def _mark_done_if_confirmed(self, task_id: int, tx_hash: str | None, state: TaskState) -> None:
        if not self._sender.confirmed(tx_hash):
            self._scheduler.schedule(task_id, self._config.chain.poll_interval_s)
            return
        self._store.set_state(task_id, state)
        self._scheduler.schedule(task_id)

    def _revealed(self, view: TaskView) -> bool:
        index = view.member_index(self._address)
        return index is not None and view.revealed[index]

    def _step_reveal(
        self, task: TaskRecord, vote: VoteRecord, phase: Phase, view: TaskView
    ) -> None:
        if self._revealed(view):
            self._store.set_state(task.task_id, TaskState.REVEALED, "reveal found on chain")
            self._scheduler.schedule(task.task_id)
        elif not self._conduct.reveals():
            detail = f"conduct {self._conduct.name!r} does not reveal"
            self._finish_step(task.task_id, TaskState.ABANDONED, detail)
        elif phase == Phase.REVEAL:
            if self._config.node.aggregate_reveals:
                self._reveal_aggregated(task, vote, view)
            else:
                self._send(task, "reveal", task.task_id, vote.digest, vote.salt)
        elif phase != Phase.COMMIT:
            detail = f"reveal window closed (phase {phase.name.lower()})"
            self._finish_step(task.task_id, TaskState.MISSED, detail, "reveal")

    def _reveal_aggregated(self, task: TaskRecord, vote: VoteRecord, view: TaskView) -> None:
        """The aggregated reveal (oracle/node/aggregation.py): wait for our turn, then send the
        openings collected by then in one revealBatch (or ours alone)."""
        position = view.member_index(self._address)
        assert position is not None
        own = Opening(position, self._address, vote.digest, vote.salt)
        plan = self._aggregator.plan(view, own)
        if plan.wait_s is not None:
            self._scheduler.schedule(task.task_id, plan.wait_s)
            return
        for step, detail in plan.journal:
            self._store.journal(task.task_id, step, detail)
        if len(plan.openings) == 1:
            self._send(task, "reveal", task.task_id, vote.digest, vote.salt)
        else:
            batch = [opening.as_call_argument() for opening in plan.openings]
            self._send(task, "reveal", task.task_id, batch, function="revealBatch")

    def _step_reveal_sent(
        self, task: TaskRecord, vote: VoteRecord, phase: Phase, view: TaskView
    ) -> None:
        revealed = self._revealed(view)
        if self._sent_and_settled(task, "reveal", vote.reveal_tx, revealed, TaskState.COMMITTED):
            self._step_reveal(task, vote, phase, view)

    def _undrawable(self, task: TaskRecord, vote: VoteRecord | None, view: TaskView) -> None:
        """No committee can be drawn (the randomness went stale before anyone drew the task,
        or too few operators were left): resolve() refunds the requester and ends the task (it
        draws a stale task first, which fails). Sent like any resolution; the next look records
        the outcome."""
        if view.status not in (TaskStatus.DRAWING, TaskStatus.OPEN):
            self._finish(task, view)
            return
        if vote is None or not self._config.node.resolve_tasks:
            detail = "no committee could be drawn (stale randomness or too few operators)"
            self._finish_step(task.task_id, TaskState.ABANDONED, detail)
            return
        self._scheduler.schedule(task.task_id, self._config.chain.poll_interval_s)
        if vote.resolve_tx is not None and self._sender.fate(vote.resolve_tx) == Fate.PENDING:
            return
        self._store.journal(task.task_id, "undrawable", "no committee can be drawn; resolving")
        self._send(task, "resolve", task.task_id)

    def _step_resolve(self, task: TaskRecord, vote: VoteRecord, phase: Phase) -> None:
        if phase != Phase.RESOLVABLE or not self._config.node.resolve_tasks:
            return
        if vote.resolve_tx is not None and self._sender.fate(vote.resolve_tx) == Fate.PENDING:
            self._scheduler.schedule(task.task_id, self._config.chain.poll_interval_s)
            return
        self._send(task, "resolve", task.task_id)

    def _send(self, task: TaskRecord, step: str, *args: Any, function: str | None = None) -> None:
        """Send one step's transaction; a refusal is journaled and retried a bounded number of
        times (the next look at the chain usually explains it: already done, window closed)."""
        task_id = task.task_id
        try:
            sent = self._sender.send(task_id, step, len(task.committee), *args, function=function)
        except ContractRevertError as exc:
            if step == "reveal" and self._revealed_on_chain(task_id):
                # A peer's batch carrying our opening landed first (refused in simulation, so
                # nothing was sent): the next look at the chain records the vote as revealed.
                self._store.journal(task_id, "revealed_by_peer", str(exc))
                self._scheduler.schedule(task_id, self._config.chain.poll_interval_s)
                return
            attempts = self._sender.refused(task_id, step, exc)
            if step == "resolve" and exc.name == "WrongPhase":
                return  # someone else resolved it; the status change finishes the task
            if attempts >= self._config.node.max_step_attempts:
                detail = f"{step} rejected {attempts} times: {exc}"
                self._finish_step(task_id, TaskState.MISSED, detail, step)
            else:
                log.info("task %d: %s rejected: %s", task_id, step, exc)
                self._scheduler.schedule(task_id, self._config.chain.poll_interval_s)
            return
        log.info("task %d: %s sent %s", task_id, step, sent.tx_hash)
        self._scheduler.schedule(task_id)  # look again at once: on a fast chain it is mined

    def _revealed_on_chain(self, task_id: int) -> bool:
        """Whether our opening is on chain, counting the pending block (where a simulation that
        refused our reveal saw it)."""
        view = read_task(self._client, task_id, block="pending")
        return view is not None and self._revealed(view)

    def _finish(self, task: TaskRecord, view: TaskView) -> None:
        """The task is final on chain: record the outcome and what it paid or cost us."""
        self._inference.cancel(task.task_id)
        outcome = view.status.name.lower()
        vote = self._store.get_vote(task.task_id)
        candidates = [self._resolution_tx.pop(task.task_id, None)]
        if vote is not None:
            candidates += [vote.reveal_tx, vote.resolve_tx]
        detail = payout_detail(self._client, self._address, task.task_id, candidates)
        if not detail:
            found = resolution_tx(self._client, task.task_id, task.request_block)
            detail = payout_detail(self._client, self._address, task.task_id, [found])
        self._store.set_outcome(task.task_id, outcome, view.result)
        if detail:
            self._store.journal(task.task_id, "payout", detail)
        else:
            self._payout_unread.add(task.task_id)  # its log, once read, records it
        self._metrics.tasks_finished.labels(outcome).inc()
        self._scheduler.forget(task.task_id)
        self._sender.forget(task.task_id)
        self._aggregator.forget(task.task_id)
        self._looked_erased.discard(task.task_id)
        log.info("task %d: %s (was %s) %s", task.task_id, outcome, task.state, detail)
