"""The verifier node: listener -> inference worker -> commit -> reveal -> resolve, crash-safe.

One loop thread does all chain I/O; inference runs in a worker (process by default) and the HTTP
API in its own thread. Each task is a small state machine persisted in the store (see
`oracle.store`), and every step first re-reads the task on chain, so a step is idempotent: after a
crash, a reorg or an RPC outage the node looks at what the chain says, not at what it believes.

- The digest and salt are stored before the commit is signed; the signed transaction's hash is
  stored before it is broadcast. A restarted node finds a commit that was mined (it reveals), one
  still pending (it waits), or one that never made it (it commits again with the same salt).
- A window that closed before our step is recorded as MISSED, with the reason, and left alone.
- An input the model rejects is answered with the reserved INVALID_INPUT_DIGEST and recorded as a
  rejection: bad requests end cleanly and honest verifiers are still paid.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3.types import EventData

from deploy.deployer import load_deployment
from deploy.errors import DeploymentError
from oracle.aggregation import Opening, PeerOpenings
from oracle.chain.client import ChainClient
from oracle.chain.reverts import ContractRevertError
from oracle.chain.views import (
    Phase,
    TaskStatus,
    TaskView,
    commitment,
    read_config,
    read_phase,
    read_task,
    read_version,
    same_protocol,
)
from oracle.config import NodeConfig
from oracle.errors import ChainError, ChainUnavailableError, OracleError
from oracle.listener import Listener
from oracle.metrics import NodeMetrics
from oracle.store import (
    ABANDONED,
    ACTIVE_STATES,
    ASSIGNED,
    COMMIT_SENT,
    COMMITTED,
    COMPUTED,
    MISSED,
    REVEAL_SENT,
    REVEALED,
    ArtifactRecord,
    Store,
    TaskRecord,
    VoteRecord,
)
from oracle.version import __version__
from oracle.worker import InferenceJob, InferenceOutcome, InferenceWorker, ModelDescription

log = logging.getLogger("genoracle.node")

_ARTIFACT_SUFFIX = {"image/png": ".png", "text/plain": ".txt", "text/plain; charset=utf-8": ".txt"}


class VerifierNode:
    """One operator's node. `run()` blocks until `stop()` or SIGTERM/SIGINT."""

    def __init__(self, config: NodeConfig, account: LocalAccount) -> None:
        self.config = config
        self.address: str = account.address
        self.behaviour = config.node.behaviour
        self.metrics = NodeMetrics()
        self.client = ChainClient(config.chain, account)
        self.data_dir = config.node.data_dir
        self.artifacts_dir = self.data_dir / "artifacts"
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.data_dir / "node.sqlite3")
        self.store.bind(self.client.chain_id, self.client.address, self.address)
        self._check_protocol_version()
        self.start_block = self._start_block()
        self.max_callback_gas = int(read_config(self.client)["maxCallbackGasLimit"])
        self.listener = Listener(self.client, self.store, self.start_block)
        if self.behaviour != "honest":
            log.warning(
                "TEST-ONLY dishonest behaviour %r is active: this operator will be slashed",
                self.behaviour,
            )
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.worker = self._start_worker()
        self.models: dict[bytes, ModelDescription] = {m.model_id: m for m in self.worker.models}
        self._worker_restarts_seen = 0
        self.chain_ok = True
        self.last_error: str | None = None
        self.api_url: str | None = None
        self._inflight: dict[int, concurrent.futures.Future[InferenceOutcome]] = {}
        self._due: dict[int, float] = {}
        self._attempts: dict[tuple[int, str], int] = {}
        self._deadlines: dict[int, int] = {}  # task -> next chain timestamp to wake it at
        self._awaiting_draw: dict[int, EventData] = {}  # served requests not yet drawn
        self._keeper_watch: dict[int, float] = {}  # others' tasks -> when to draw them ourselves
        self._resolution_tx: dict[int, str] = {}
        self.peers = PeerOpenings(self.client, config.node.peer_timeout_s)
        self._reveal_phase_seen: dict[int, float] = {}  # task -> when we first could reveal
        self._openings: dict[int, dict[int, Opening]] = {}  # task -> position -> opening
        self._api_thread: threading.Thread | None = None
        self._api_server: Any = None

    # -- setup ------------------------------------------------------------------------------

    def _check_protocol_version(self) -> None:
        """Refuse to serve a deployment of another protocol version: its ABI or its rules
        differ, and a node that misreads them gets its operator slashed."""
        deployed = read_version(self.client)
        if not same_protocol(deployed, __version__):
            raise OracleError(
                f"the oracle at {self.client.address} runs protocol {deployed}, this node is "
                f"genoracle {__version__}: install a genoracle {deployed} node, or point "
                f"chain.oracle_address at a {__version__} deployment"
            )

    def _start_block(self) -> int:
        if self.config.chain.start_block is not None:
            return self.config.chain.start_block
        if self.config.chain.oracle_address is not None:
            return 0
        try:
            deployment = load_deployment(self.client.chain_id, self.config.chain.deployments_dir)
        except DeploymentError:
            return 0
        return deployment.block_number

    def _start_worker(self) -> InferenceWorker:
        """Load the models in the worker. A worker process that dies meanwhile (killed, out of
        memory) is replaced until the models are loaded (with a backoff); only a loader that
        fails by itself (an unknown model, broken files) stops the node here."""
        names = list(self.config.node.models)
        try:
            return InferenceWorker(
                names,
                mode=self.config.node.worker,
                threads=self.config.node.inference_threads,
                on_change=self._wake.set,
            )
        except OracleError:
            raise
        except Exception as exc:
            raise OracleError(
                f"the inference worker could not load the models {names}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def model_names(self) -> dict[str, str]:
        return {"0x" + model_id.hex(): m.name for model_id, m in self.models.items()}

    # -- main loop --------------------------------------------------------------------------

    def stop(self, *_: Any) -> None:
        self._stop.set()
        self._wake.set()

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is threading.main_thread():

            def handler(signum: int, frame: FrameType | None) -> None:
                log.info("signal %d: stopping after the current step", signum)
                self.stop()

            signal.signal(signal.SIGTERM, handler)
            signal.signal(signal.SIGINT, handler)

    def run(self) -> None:
        """Serve until stopped: resume stored tasks, then poll, compute, commit, reveal."""
        self._install_signal_handlers()
        if self.config.api.enabled:
            self.start_api()
        self._resume()
        log.info(
            "node %s serving models %s on oracle %s (chain %d), behaviour %s",
            self.address,
            sorted(self.model_names().values()),
            self.client.address,
            self.client.chain_id,
            self.behaviour,
        )
        failures = 0
        while not self._stop.is_set():
            try:
                self.tick()
                failures = 0
            except ChainUnavailableError as exc:
                failures += 1
                self.chain_ok, self.last_error = False, str(exc)
                self.metrics.rpc_errors.inc()
                log.warning("%s; retrying", exc)
                self._stop.wait(min(0.5 * failures, 5.0))
                continue
            except ChainError as exc:
                self.last_error = str(exc)
                self.metrics.rpc_errors.inc()
                log.warning("chain error: %s", exc)
            except Exception as exc:
                # A bug in one step must not take every other task down with it: log it with
                # its traceback and carry on; the failing step is retried on its next wake-up.
                failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("unexpected error in the node loop")
                self._stop.wait(min(0.5 * failures, 5.0))
            self._wake.wait(self.config.chain.poll_interval_s)
            self._wake.clear()
        self.close()

    def close(self) -> None:
        self.worker.shutdown()
        if self._api_server is not None:
            self._api_server.should_exit = True
        if self._api_thread is not None:
            self._api_thread.join(timeout=5)
        self.store.close()

    def _resume(self) -> None:
        """After a restart: every unfinished task is looked at again, against the chain."""
        now = time.monotonic()
        for task in self.store.tasks(ACTIVE_STATES):
            self._due[task.task_id] = now
            self._deadlines[task.task_id] = task.commit_deadline
            self.store.journal(task.task_id, "resumed", task.state)

    def tick(self) -> None:
        """One pass: the worker's health, new logs, finished inferences, then every task whose
        check is due."""
        self._supervise_worker()
        events = self.listener.poll()
        if not self.chain_ok:
            log.info("RPC reachable again; resuming")
        self.chain_ok, self.last_error = True, None
        for event in events:
            self._on_event(event)
        self._wake_on_deadlines()
        self._check_draws()
        self._keep()
        self.metrics.head_block.set(self.listener.head)
        self._collect_inference()
        # A step can enable the next one at once (automine: the commit is mined by the time
        # send returns, maybe completing the commit phase), so go round a few times.
        for _ in range(4):
            now = time.monotonic()
            due = sorted(t for t, when in self._due.items() if when <= now)
            if not due:
                break
            for task_id in due:
                self._advance(task_id)
        self.metrics.active_tasks.set(
            sum(self.store.count_by_state().get(s, 0) for s in ACTIVE_STATES)
        )

    def _schedule(self, task_id: int, delay: float = 0.0) -> None:
        due = time.monotonic() + delay
        current = self._due.get(task_id)
        if current is None or due < current or current <= time.monotonic():
            self._due[task_id] = due

    # -- events -----------------------------------------------------------------------------

    def _on_event(self, event: EventData) -> None:
        """Wake a task only for events that can change what it does next: it ended, one of our
        own transactions landed, or (once we committed) another member's commit, which may
        complete the set and open the reveal phase. Other members' reveals change nothing for
        us (the last reveal resolves and emits TaskResolved)."""
        name = event["event"]
        args = event["args"]
        if name == "TaskRequested":
            self._on_task_requested(event)
            return
        if "taskId" not in args:
            return
        task_id = int(args["taskId"])
        mine = str(args.get("operator", "")).lower() == self.address.lower()
        if name in ("TaskResolved", "TaskFailed"):
            self._resolution_tx[task_id] = event["transactionHash"].to_0x_hex()
        elif name not in ("CommitSubmitted", "DigestRevealed") or (
            name == "DigestRevealed" and not mine
        ):
            return
        task = self.store.get_task(task_id)
        if task is None or task.state not in ACTIVE_STATES or task.state == ASSIGNED:
            return
        if name == "CommitSubmitted" and not mine and task.state != COMMITTED:
            return
        already = {
            "CommitSubmitted": (COMMITTED, REVEAL_SENT, REVEALED),
            "DigestRevealed": (REVEALED,),
        }
        if mine and task.state in already.get(name, ()):
            return  # our own transaction, already seen landing when we sent it
        self._due[task_id] = time.monotonic()

    def _wake_on_deadlines(self) -> None:
        """Phases also change with time alone (no event): wake a task when the head block's
        timestamp passes its commit deadline, then its reveal deadline; and wake every task
        after a reorg, which can erase our transactions."""
        if self.listener.reorged:
            for record in self.store.tasks(ACTIVE_STATES):
                self._schedule(record.task_id)
            return
        now = self.listener.head_timestamp
        for task_id, deadline in list(self._deadlines.items()):
            if now <= deadline:
                continue
            task = self.store.get_task(task_id)
            if task is None or task.state not in ACTIVE_STATES:
                del self._deadlines[task_id]
                continue
            self._schedule(task_id)
            if deadline < task.reveal_deadline:
                self._deadlines[task_id] = task.reveal_deadline
            else:
                del self._deadlines[task_id]

    def _on_task_requested(self, event: EventData) -> None:
        """A request for a model this node serves waits for its committee: the draw uses the
        hash of the request's block, known from the next block on (see _check_draws). Handling
        a log makes no RPC call, so a failing call cannot lose the task."""
        args = event["args"]
        if bytes(args["modelId"]) not in self.models:
            return
        self._awaiting_draw[int(args["taskId"])] = event

    def _check_draws(self) -> None:
        """For each request waiting for its committee: once its randomness exists, read the
        committee the draw gives (drawn already, or as it will be drawn: weights are frozen by
        then) from the pending block, and take the task on if this node is a member. A member's
        commit draws the task on chain if nobody has yet."""
        for task_id, event in list(self._awaiting_draw.items()):
            if int(event["blockNumber"]) > self.listener.head:
                continue
            committee_raw, entropy = self.client.view("committeeOf", task_id, block="pending")
            del self._awaiting_draw[task_id]
            committee: list[str] = [str(to_checksum_address(m)) for m in committee_raw]
            lowered = [member.lower() for member in committee]
            if self.address.lower() in lowered:
                self._take_task(
                    event, committee, bytes(entropy), lowered.index(self.address.lower())
                )
            elif committee and self.config.node.keeper_delay_s is not None:
                self._keeper_watch[task_id] = time.monotonic() + self.config.node.keeper_delay_s

    def _keep(self) -> None:
        """The keeper's round: a task of a model we serve whose members have not drawn it (by
        committing) in time is drawn here, with every other ready task, in one drawCommittees."""
        now = time.monotonic()
        due = [task_id for task_id, when in self._keeper_watch.items() if when <= now]
        if not due:
            return
        for task_id in due:
            del self._keeper_watch[task_id]
        if all(read_phase(self.client, task_id) != Phase.DRAW for task_id in due):
            return
        try:
            sent = self.client.send("drawCommittees", 16, gas_floor=self._commit_gas(7))
        except ContractRevertError as exc:
            log.info("keeper: drawCommittees refused: %s", exc)
            return
        log.info("keeper: drew the committees of waiting tasks (%s)", sent.tx_hash)

    def _take_task(
        self, event: EventData, committee: list[str], entropy: bytes, position: int
    ) -> None:
        args = event["args"]
        task_id = int(args["taskId"])
        model_id = bytes(args["modelId"])
        floor = self.models[model_id].floor_tolerance
        tolerance = int(args["tolerance"])
        if any((tolerance >> s) & 0xFF < (floor >> s) & 0xFF for s in (0, 8, 16, 24)):
            # The contract refuses such requests; a node of another build must not let honest
            # hardware noise be slashed as deviation either.
            self._reject(
                task_id,
                f"tolerance 0x{tolerance:08x} is below the model's honest floor 0x{floor:08x}",
            )
            return
        added = self.store.add_task(
            task_id=task_id,
            model_id=model_id,
            input=bytes(args["input"]),
            entropy=entropy,
            committee=committee,
            member_index=position,
            tolerance=int(args["tolerance"]),
            commit_deadline=int(args["commitDeadline"]),
            reveal_deadline=int(args["revealDeadline"]),
            fee=int(args["fee"]),
            request_block=int(event["blockNumber"]),
            request_tx=event["transactionHash"].to_0x_hex(),
        )
        if not added:
            return
        self.metrics.tasks_assigned.inc()
        log.info("task %d: drawn (model %s)", task_id, self.models[model_id].name)
        self._deadlines[task_id] = int(args["commitDeadline"])
        self._schedule(task_id)

    # -- inference --------------------------------------------------------------------------

    def _too_late_to_compute(self, task: TaskRecord) -> bool:
        """An old request (a restart, a node catching up): computing is pointless once the task
        ended or its windows are over. A fresh request needs no look at the chain."""
        if task.request_block >= self.listener.head:
            return False
        block = self.client.block_number()  # both reads at one state (see _take_step)
        view = read_task(self.client, task.task_id, block=block)
        return view is not None and (
            view.status not in (TaskStatus.DRAWING, TaskStatus.OPEN)
            or read_phase(self.client, task.task_id, block=block)
            in (Phase.RESOLVABLE, Phase.FINISHED)
        )

    def _supervise_worker(self) -> None:
        """Restart a dead inference worker (after its backoff), without blocking the loop: it
        runs even while the RPC is down, and a failure here never stops the chain work."""
        try:
            events = self.worker.supervise()
        except Exception:
            log.exception("supervising the inference worker failed; trying again next tick")
            return
        restarts = self.worker.restarts - self._worker_restarts_seen
        if restarts > 0:
            self.metrics.worker_restarts.inc(restarts)
            self._worker_restarts_seen = self.worker.restarts
        for event in events:
            for task_id in sorted(self._inflight):
                self.store.journal(task_id, "worker_restart", event)

    def _submit_inference(self, task_id: int) -> None:
        task = self.store.get_task(task_id)
        if task is None or task_id in self._inflight:
            return
        job = InferenceJob(task_id, task.model_id, task.input, task.entropy, self.behaviour)
        future = self.worker.submit(job)
        future.add_done_callback(lambda _: self._wake.set())
        self._inflight[task_id] = future

    def _collect_inference(self) -> None:
        for task_id, future in list(self._inflight.items()):
            if not future.done():
                continue
            del self._inflight[task_id]
            task = self.store.get_task(task_id)
            if task is None or task.state != ASSIGNED:
                continue
            try:
                outcome = future.result()
            except concurrent.futures.CancelledError:
                continue
            except concurrent.futures.BrokenExecutor as exc:
                # The worker process died while it ran this job (killed, out of memory): the
                # worker starts a fresh process, which takes the job again. A job that kills
                # the worker every time is given up after max_step_attempts.
                key = (task_id, "inference")
                self._attempts[key] = self._attempts.get(key, 0) + 1
                if self._attempts[key] < self.config.node.max_step_attempts:
                    self.store.journal(task_id, "inference_retry", str(exc))
                    self._submit_inference(task_id)
                    continue
                reason = "inference failed: the worker process died on every attempt"
                self._reject(task_id, reason)
                self._finish_step(task_id, MISSED, reason, "commit")
                continue
            except Exception as exc:  # a model bug must not stop the node; record it
                reason = f"inference failed: {type(exc).__name__}: {exc}"
                log.error("task %d: %s", task_id, reason)
                self._reject(task_id, reason)
                self._finish_step(task_id, MISSED, reason, "commit")
                continue
            self._record_outcome(task, outcome)

    def _record_outcome(self, task: TaskRecord, outcome: InferenceOutcome) -> None:
        if outcome.invalid_reason is not None:
            # Recorded for the operator only: a public counter (or a near-zero inference time)
            # would tell a lazy peer "invalid" before the commit phase is over.
            reason = f"invalid input, answering the reserved digest: {outcome.invalid_reason}"
            self.store.add_rejection(task.task_id, reason)
            log.warning("task %s: %s", task.task_id, reason)
        if outcome.artifact is not None and outcome.media_type is not None:
            self._save_artifact(task.task_id, outcome)
        salt = os.urandom(32)
        vote_commitment = commitment(
            self.client.chain_id,
            self.client.address,
            task.task_id,
            self.address,
            outcome.digest,
            salt,
        )
        self.store.record_vote(
            task.task_id,
            digest=outcome.digest,
            salt=salt,
            commitment=vote_commitment,
            invalid_input=outcome.invalid_reason is not None,
            inference_seconds=outcome.seconds,
        )
        if outcome.invalid_reason is None:
            self.metrics.inference_seconds.observe(outcome.seconds)
        log.info(
            "task %d: digest 0x%s in %.3fs", task.task_id, outcome.digest.hex(), outcome.seconds
        )
        self._advance(task.task_id)

    def _save_artifact(self, task_id: int, outcome: InferenceOutcome) -> None:
        assert outcome.artifact is not None and outcome.media_type is not None
        suffix = _ARTIFACT_SUFFIX.get(outcome.media_type, ".bin")
        path = self.artifacts_dir / f"{task_id}{suffix}"
        temporary = path.with_suffix(suffix + ".tmp")
        temporary.write_bytes(outcome.artifact)
        temporary.replace(path)
        self.store.save_artifact(
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
        self.metrics.rejections.inc()
        self.store.add_rejection(task_id, reason)
        log.warning("task %s: %s", task_id, reason)

    # -- the per-task state machine ------------------------------------------------------------

    def _finish_step(self, task_id: int, state: str, detail: str, step: str = "") -> None:
        self.store.set_state(task_id, state, detail)
        self._due.pop(task_id, None)
        if state == MISSED:
            self.metrics.windows_missed.labels(step or "unknown").inc()
            log.warning("task %d: missed: %s", task_id, detail)
        elif state == ABANDONED:
            log.info("task %d: abandoned: %s", task_id, detail)

    def _advance(self, task_id: int) -> None:
        """Look at the chain, then take the one step the task needs now (if any).

        A step that fails (the RPC went away mid-step, a bug) leaves the task scheduled again:
        nothing else would wake it before its deadline (no event comes for a commit that sits
        in a mempool which a restarted RPC node has forgotten)."""
        self._due.pop(task_id, None)
        try:
            self._take_step(task_id)
        except ChainUnavailableError:
            self._schedule(task_id, self.config.chain.poll_interval_s)  # once it is back
            raise
        except Exception:
            self._schedule(task_id, self.config.node.recheck_interval_s)
            raise

    def _take_step(self, task_id: int) -> None:
        task = self.store.get_task(task_id)
        if task is None or task.state not in ACTIVE_STATES:
            return
        if task.state == ASSIGNED:
            if task_id not in self._inflight and self._too_late_to_compute(task):
                self._finish_step(task_id, MISSED, "found after its commit window closed", "commit")
            else:
                self._submit_inference(task_id)
            return
        # The task and its phase are read at one block: read apart, a reveal (a peer's batch
        # carrying our opening) landing in between shows "not revealed" and a phase past the
        # reveal window, and a vote revealed and paid would be recorded as missed.
        block = self.client.block_number()
        view = read_task(self.client, task_id, block=block)
        if view is None:
            # The request itself was erased by a reorg (or the chain forgot it). It may come
            # back in the new branch; once the chain is well past it, give up on it.
            if self.listener.head > task.request_block + 4 * self.config.chain.reorg_depth + 16:
                self._finish_step(task_id, ABANDONED, "the request is no longer on chain")
                return
            self.store.journal(task_id, "waiting", "task not found on chain (reorg?)")
            self._schedule(task_id, self.config.node.recheck_interval_s)
            return
        if view.status == TaskStatus.DRAWING:
            # Nobody has drawn it on chain yet; our commit draws it (we know we are drawn).
            vote = self.store.get_vote(task_id)
            assert vote is not None, f"task {task_id} in state {task.state} without a vote"
            if task.state == COMPUTED:
                self._step_commit(task, vote, Phase.COMMIT, committed=False)
            elif task.state == COMMIT_SENT:
                self._step_commit_sent(task, vote, Phase.COMMIT, committed=False)
            else:
                self._schedule(task_id, self.config.chain.poll_interval_s)
            return
        index = view.member_index(self.address)
        if index is None:
            self._finish_step(
                task_id,
                ABANDONED,
                "not a committee member on chain any more (the draw changed in a reorg)",
            )
            return
        if view.status != TaskStatus.OPEN:
            self._finish(task, view)
            return
        vote = self.store.get_vote(task_id)
        assert vote is not None, f"task {task_id} in state {task.state} without a stored vote"
        phase = read_phase(self.client, task_id, block=block)
        committed, revealed = view.committed[index], view.revealed[index]
        state = task.state
        if state in (COMMITTED, REVEAL_SENT, REVEALED) and not committed:
            self.store.journal(task_id, "reorg", "our commit is no longer on chain")
            state = COMPUTED
            self.store.set_state(task_id, COMPUTED, "commit erased by a reorg; committing again")
        if state == REVEALED and not revealed:
            self.store.journal(task_id, "reorg", "our reveal is no longer on chain")
            state = COMMITTED
            self.store.set_state(task_id, COMMITTED, "reveal erased by a reorg; revealing again")
        if state == COMPUTED:
            self._step_commit(task, vote, phase, committed)
        elif state == COMMIT_SENT:
            self._step_commit_sent(task, vote, phase, committed)
        elif state == COMMITTED:
            self._step_reveal(task, vote, phase, view)
        elif state == REVEAL_SENT:
            self._step_reveal_sent(task, vote, phase, view)
        elif state == REVEALED:
            self._step_resolve(task, vote, phase)
        if task_id not in self._due:
            current = self.store.get_task(task_id)
            if current is not None and current.state in ACTIVE_STATES:
                self._schedule(task_id, self.config.node.recheck_interval_s)  # safety net

    def _step_commit(
        self, task: TaskRecord, vote: VoteRecord, phase: Phase, committed: bool
    ) -> None:
        if committed:
            self.store.set_state(task.task_id, COMMITTED, "commit found on chain")
            self._schedule(task.task_id)
        elif self.behaviour == "silent":  # TEST ONLY
            self._finish_step(task.task_id, ABANDONED, "test-only behaviour 'silent': no commit")
        elif phase == Phase.COMMIT:
            self._send(task.task_id, "commit", task.task_id, vote.commitment)
        else:
            self._finish_step(
                task.task_id,
                MISSED,
                f"commit window closed (phase {phase.name.lower()}) before the commit was on chain",
                "commit",
            )

    def _pending_or_lost(self, tx_hash: str | None) -> str:
        """'pending' (mined but unconfirmed, or in the mempool), 'failed', or 'lost'."""
        if tx_hash is None:
            return "lost"
        receipt = self.client.receipt(tx_hash)
        if receipt is not None:
            if receipt["status"] != 1:
                return "failed"
            return "pending"  # mined and successful, yet the view disagrees: not confirmed yet
        return "pending" if self.client.is_known(tx_hash) else "lost"

    def _step_commit_sent(
        self, task: TaskRecord, vote: VoteRecord, phase: Phase, committed: bool
    ) -> None:
        if committed:
            self._mark_done_if_confirmed(task.task_id, vote.commit_tx, COMMITTED)
            return
        status = self._pending_or_lost(vote.commit_tx)
        if status == "pending":
            self._schedule(task.task_id, self.config.chain.poll_interval_s)
            return
        self.store.journal(task.task_id, f"commit_{status}", vote.commit_tx or "")
        self.store.set_state(task.task_id, COMPUTED, f"commit transaction {status}")
        self._step_commit(task, vote, phase, committed=False)

    def _mark_done_if_confirmed(self, task_id: int, tx_hash: str | None, state: str) -> None:
        if tx_hash is not None and self.config.chain.confirmations > 0:
            receipt = self.client.receipt(tx_hash)
            if receipt is None or not self.client.is_confirmed(receipt):
                self._schedule(task_id, self.config.chain.poll_interval_s)
                return
        self.store.set_state(task_id, state)
        self._schedule(task_id)

    def _revealed(self, view: TaskView) -> bool:
        index = view.member_index(self.address)
        return index is not None and view.revealed[index]

    def _step_reveal(
        self, task: TaskRecord, vote: VoteRecord, phase: Phase, view: TaskView
    ) -> None:
        if self._revealed(view):
            self.store.set_state(task.task_id, REVEALED, "reveal found on chain")
            self._schedule(task.task_id)
        elif self.behaviour == "no-reveal":  # TEST ONLY
            self._finish_step(task.task_id, ABANDONED, "test-only behaviour 'no-reveal'")
        elif phase == Phase.REVEAL:
            if self.config.node.aggregate_reveals:
                self._reveal_aggregated(task, vote, view)
            else:
                self._send(task.task_id, "reveal", task.task_id, vote.digest, vote.salt)
        elif phase != Phase.COMMIT:
            self._finish_step(
                task.task_id, MISSED, f"reveal window closed (phase {phase.name.lower()})", "reveal"
            )

    def _reveal_aggregated(self, task: TaskRecord, vote: VoteRecord, view: TaskView) -> None:
        """The aggregated reveal (oracle/aggregation.py). The members still to reveal take turns
        as the aggregator, in committee order, `aggregation_wait_s` apart (counted from when
        this node saw the reveal phase): at its turn a member collects the others' openings and
        sends one revealBatch. Under load the first aggregator is often behind (its loop busy,
        its CPU shared with inference) while its API still serves its opening, so the next one
        takes over with that opening in the batch instead of everybody revealing alone. A member
        reveals alone only when no peer's opening can be had at its turn."""
        task_id = task.task_id
        me = view.member_index(self.address)
        assert me is not None
        waiting = [
            position
            for position in range(len(view.committee))
            if view.committed[position] and not view.revealed[position]
        ]
        now = time.monotonic()
        waited = now - self._reveal_phase_seen.setdefault(task_id, now)
        patience = self.config.node.aggregation_wait_s
        turn = waiting.index(me) * patience
        if waited < turn:
            self._schedule(task_id, turn - waited)  # our DigestRevealed wakes us earlier
            return
        collected = self._openings.setdefault(task_id, {})
        collected[me] = Opening(me, self.address, vote.digest, vote.salt)
        for position in waiting:
            if position not in collected:
                peer = self.peers.fetch(task_id, position, view.committee[position])
                if peer is not None:
                    collected[position] = peer
        missing = [position for position in waiting if position not in collected]
        if missing and waited < turn + patience / 2:
            self._schedule(task_id, min(0.2, patience / 10))  # peers may not have seen the phase
            return
        openings = [collected[position] for position in waiting if position in collected]
        if missing:
            self.store.journal(
                task_id,
                "batch_partial",
                "no opening from " + ", ".join(view.committee[p] for p in missing),
            )
        if len(openings) == 1:
            self.store.journal(task_id, "reveal_alone", "no peer opening at our turn")
            self._send(task_id, "reveal", task_id, vote.digest, vote.salt)
        else:
            batch = [opening.as_call_argument() for opening in openings]
            self._send(task_id, "reveal", task_id, batch, function="revealBatch")

    def _step_reveal_sent(
        self, task: TaskRecord, vote: VoteRecord, phase: Phase, view: TaskView
    ) -> None:
        if self._revealed(view):
            self._mark_done_if_confirmed(task.task_id, vote.reveal_tx, REVEALED)
            return
        status = self._pending_or_lost(vote.reveal_tx)
        if status == "pending":
            self._schedule(task.task_id, self.config.chain.poll_interval_s)
            return
        self.store.journal(task.task_id, f"reveal_{status}", vote.reveal_tx or "")
        self.store.set_state(task.task_id, COMMITTED, f"reveal transaction {status}")
        self._step_reveal(task, vote, phase, view)

    def _step_resolve(self, task: TaskRecord, vote: VoteRecord, phase: Phase) -> None:
        if phase != Phase.RESOLVABLE or not self.config.node.resolve_tasks:
            return
        if vote.resolve_tx is not None and self._pending_or_lost(vote.resolve_tx) == "pending":
            self._schedule(task.task_id, self.config.chain.poll_interval_s)
            return
        self._send(task.task_id, "resolve", task.task_id)

    def _resolution_gas(self, committee_size: int) -> int:
        """Gas that always covers resolving a task: the payout loop plus the largest callback the
        contract allows (a reveal may turn out to be the last one, which resolves)."""
        return 150_000 + 30_000 * committee_size + self.max_callback_gas * 64 // 63 + 20_000

    @staticmethod
    def _commit_gas(committee_size: int) -> int:
        """Gas that always covers a commit that also draws its task (whoever commits first
        draws, and which commit lands first is not known when it is estimated), plus the draws
        of up to MAX_PENDING_DRAWS (16) earlier tasks still waiting."""
        return 80_000 + 16 * (30_000 + 25_000 * committee_size)

    def _send(self, task_id: int, step: str, *args: Any, function: str | None = None) -> None:
        """Send one step's transaction (the contract function `function`, by default named like
        the step); a revert is journaled and retried a bounded number of times (the next look
        at the chain usually explains it: already done, window closed)."""
        task = self.store.get_task(task_id)
        floor = 0
        if step in ("reveal", "resolve") and task is not None:
            floor = self._resolution_gas(len(task.committee))
        elif step == "commit" and task is not None:
            floor = self._commit_gas(len(task.committee))
        try:
            sent = self.client.send(
                function or step,
                *args,
                before_broadcast=lambda tx_hash: self.store.record_sent(task_id, step, tx_hash),
                gas_floor=floor,
            )
        except ContractRevertError as exc:
            if step == "reveal" and self._revealed_on_chain(task_id):
                # A peer's batch carrying our opening landed first (refused in simulation, so
                # nothing was sent): the next look at the chain records the vote as revealed.
                self.store.journal(task_id, "revealed_by_peer", str(exc))
                self._schedule(task_id, self.config.chain.poll_interval_s)  # once it is mined
                return
            self.metrics.reverts.labels(exc.name).inc()
            self.store.journal(task_id, f"{step}_rejected", str(exc))
            key = (task_id, step)
            self._attempts[key] = self._attempts.get(key, 0) + 1
            if step == "resolve" and exc.name == "WrongPhase":
                return  # someone else resolved it; the status change finishes the task
            if self._attempts[key] >= self.config.node.max_step_attempts:
                self._finish_step(
                    task_id, MISSED, f"{step} rejected {self._attempts[key]} times: {exc}", step
                )
            else:
                log.info("task %d: %s rejected: %s", task_id, step, exc)
                self._schedule(task_id, self.config.chain.poll_interval_s)
            return
        self.metrics.transactions_sent.labels(step).inc()
        log.info("task %d: %s sent %s", task_id, step, sent.tx_hash)
        self._schedule(task_id)  # look again at once: on a fast chain it is already mined

    def _revealed_on_chain(self, task_id: int) -> bool:
        """Whether our opening is on chain, counting the pending block (where a simulation that
        refused our reveal saw it)."""
        view = read_task(self.client, task_id, block="pending")
        return view is not None and self._revealed(view)

    def _finish(self, task: TaskRecord, view: TaskView) -> None:
        """The task is final on chain: record the outcome and what it paid or cost us."""
        future = self._inflight.pop(task.task_id, None)
        if future is not None:
            future.cancel()
        outcome = view.status.name.lower()
        detail = self._payout_detail(task.task_id)
        self.store.set_outcome(task.task_id, outcome, view.result)
        if detail:
            self.store.journal(task.task_id, "payout", detail)
        self.metrics.tasks_finished.labels(outcome).inc()
        self._due.pop(task.task_id, None)
        self._deadlines.pop(task.task_id, None)
        self._resolution_tx.pop(task.task_id, None)
        self._reveal_phase_seen.pop(task.task_id, None)
        self._openings.pop(task.task_id, None)
        log.info("task %d: %s (was %s) %s", task.task_id, outcome, task.state, detail)

    def _payout_detail(self, task_id: int) -> str:
        """What the resolving transaction credited or slashed us (from its receipt's logs).

        That transaction is the one whose TaskResolved/TaskFailed log we saw, or our own reveal
        or resolve when it was the one that closed the task.
        """
        vote = self.store.get_vote(task_id)
        candidates = [self._resolution_tx.get(task_id)]
        if vote is not None:
            candidates += [vote.reveal_tx, vote.resolve_tx]
        for tx_hash in candidates:
            receipt = self.client.receipt(tx_hash) if tx_hash is not None else None
            if receipt is None:
                continue
            events = self.client.receipt_events(receipt)
            if not any(
                e["event"] in ("TaskResolved", "TaskFailed") and int(e["args"]["taskId"]) == task_id
                for e in events
            ):
                continue
            credited = slashed = 0
            for event in events:
                args = event["args"]
                if event["event"] == "Credited" and args["account"] == self.address:
                    credited += int(args["amount"])
                elif event["event"] == "TaskResolved" and self.address in args["agreeing"]:
                    credited += int(args["share"])
                elif (
                    event["event"] == "OperatorSlashed"
                    and args["operator"] == self.address
                    and int(args["taskId"]) == task_id
                ):
                    slashed += int(args["amount"])
            return f"credited {credited} wei, slashed {slashed} wei"
        return ""

    # -- HTTP API ------------------------------------------------------------------------------

    def start_api(self) -> None:
        """Serve the HTTP API in its own thread (`run()` does this first when it is enabled)."""
        import uvicorn

        from oracle.api import create_app

        app = create_app(self)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=self.config.api.host,
                port=self.config.api.port,
                log_level="warning",
                access_log=False,
                lifespan="off",
            )
        )
        self._api_server = server
        self._api_thread = threading.Thread(target=server.run, name="api", daemon=True)
        self._api_thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline and self._api_thread.is_alive():
            time.sleep(0.01)
        if not server.started:
            raise OracleError(
                f"the HTTP API could not listen on {self.config.api.host}:"
                f"{self.config.api.port} (port in use?)"
            )
        port = server.servers[0].sockets[0].getsockname()[1]
        self.api_url = f"http://{self.config.api.host}:{port}"
        status_file = self.data_dir / "api.json"
        status_file.write_text(json.dumps({"url": self.api_url, "pid": os.getpid()}))
        log.info("HTTP API on %s", self.api_url)


def api_url_of(data_dir: Path) -> str | None:
    """The URL a running node's API listens on (written at start), for tools and tests."""
    try:
        return str(json.loads((data_dir / "api.json").read_text())["url"])
    except (OSError, ValueError, KeyError):
        return None
