"""The verifier node's runtime: builds its parts, runs the loop, serves the API, stops on a signal.

One loop thread does all chain I/O; inference runs in a supervised worker (process by default)
and the HTTP API in its own thread. The parts, in the order a task meets them:

    Listener (logs) -> CommitteeWatch (drawn?) -> TaskSteps (the state machine, steps.py)
        -> InferenceQueue (the worker) -> TransactionSender (commit, reveal, resolve)
        -> RevealAggregator (one revealBatch per task) -> payouts recorded in the Store

the Scheduler says when each task is looked at next, and Backpressure pauses the operator's
assignments while the inference queue would outgrow the commit window. The node only exits on
an operator's signal (or `stop()`); a failing step, a dead worker or an unreachable RPC is
retried.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.types import EventData

from deploy.deployer import load_deployment
from deploy.errors import DeploymentError
from inference.audit.calibrated import auditable
from oracle.chain.client import ChainClient
from oracle.chain.views import audited_address, read_config, read_version, same_protocol
from oracle.config import NodeConfig
from oracle.errors import ChainError, ChainUnavailableError, OracleError
from oracle.node.aggregation import PeerOpenings, RevealAggregator
from oracle.node.api_server import ApiServer
from oracle.node.audited import AuditDesk
from oracle.node.backpressure import Backpressure
from oracle.node.conduct import HONEST, Conduct
from oracle.node.draws import CommitteeWatch
from oracle.node.inference_queue import InferenceQueue
from oracle.node.listener import Listener
from oracle.node.metrics import NodeMetrics
from oracle.node.scheduler import Scheduler
from oracle.node.sender import TransactionSender
from oracle.node.states import ACTIVE_STATES, TaskState
from oracle.node.steps import TaskSteps
from oracle.node.store import Store
from oracle.node.training import training_desk
from oracle.version import __version__

log = logging.getLogger("genoracle.node")


class VerifierNode:
    """One operator's node. `run()` blocks until `stop()` or SIGTERM/SIGINT.

    `conduct` is how the node acts at the points where an operator could cut corners; production
    nodes are always HONEST (the tests' and demo's dishonest conducts live in oracle/dev)."""

    def __init__(
        self, config: NodeConfig, account: LocalAccount, conduct: Conduct = HONEST
    ) -> None:
        self.config = config
        self.address: str = account.address
        self.conduct = conduct
        self.metrics = NodeMetrics()
        self.client = ChainClient(config.chain, account)
        data_dir = config.node.data_dir
        self.data_dir = data_dir
        artifacts_dir = data_dir / "artifacts"
        artifacts_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(data_dir / "node.sqlite3")
        try:
            self.store.bind(self.client.chain_id, self.client.address, self.address)
            self.metrics.set_build_info(__version__, self._check_protocol_version())
            self.start_block = self._start_block()
            self.listener = Listener(self.client, self.store, self.start_block)
        except BaseException:
            self.store.close()
            raise
        if conduct is not HONEST:
            log.warning("conduct %r: this operator will be slashed", conduct.name)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.chain_ok = True
        self.last_error: str | None = None
        self.api_url: str | None = None
        self._api: ApiServer | None = None

        try:
            oracle_config = read_config(self.client)
            max_pending_draws = int(self.client.view("MAX_PENDING_DRAWS"))
        except BaseException:
            self.store.close()
            raise
        self.scheduler = Scheduler(self.store)
        self.sender = TransactionSender(
            self.client,
            self.store,
            self.metrics,
            max_callback_gas=int(oracle_config["maxCallbackGasLimit"]),
            max_pending_draws=max_pending_draws,
            confirmations=config.chain.confirmations,
        )
        self.inference = InferenceQueue(
            config.node,
            self.store,
            self.metrics,
            conduct,
            on_change=self._wake.set,
            commit_window_s=int(oracle_config["commitWindow"]),
        )
        self.backpressure = Backpressure(
            self.client,
            self.address,
            self.store,
            self.inference,
            self.metrics,
            config.node,
            commit_window_s=int(oracle_config["commitWindow"]),
        )
        self.draws = CommitteeWatch(
            self.client,
            self.sender,
            self.address,
            set(self.inference.models),
            config.node.keeper_delay_s,
        )
        self._peers = PeerOpenings(self.client, config.node.peer_timeout_s)
        self.steps = TaskSteps(
            config=config,
            address=self.address,
            client=self.client,
            store=self.store,
            listener=self.listener,
            scheduler=self.scheduler,
            sender=self.sender,
            inference=self.inference,
            aggregator=RevealAggregator(self._peers, config.node.aggregation_wait_s),
            conduct=conduct,
            metrics=self.metrics,
            artifacts_dir=artifacts_dir,
        )
        self.audits: AuditDesk | None = None
        audited = audited_address(self.client)
        if audited is not None:
            self.audits = AuditDesk(
                config,
                account,
                self.client,
                audited,
                conduct,
                data_dir,
                self.start_block,
                {
                    model_id: d.name
                    for model_id, d in self.inference.models.items()
                    if auditable(d.kind, d.name)  # calibrated sketch, tolerance (text: margin)
                },
            )
        self.training = training_desk(
            config, account, self.client, conduct, self.start_block, self.inference.models
        )

    # -- setup ------------------------------------------------------------------------------

    def _check_protocol_version(self) -> str:
        """The deployed oracle's protocol version. Refuse to serve a deployment of another
        protocol version: its ABI or its rules differ, and a node that misreads them gets its
        operator slashed."""
        deployed = read_version(self.client)
        if not same_protocol(deployed, __version__):
            raise OracleError(
                f"the oracle at {self.client.address} runs protocol {deployed}, this node is "
                f"genoracle {__version__}: install a genoracle {deployed} node, or point "
                f"chain.oracle_address at a {__version__} deployment"
            )
        return deployed

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

    # -- what the API and tools read ---------------------------------------------------------------

    @property
    def head_block(self) -> int:
        return self.listener.head

    def model_names(self) -> dict[str, str]:
        return {"0x" + model_id.hex(): m.name for model_id, m in self.inference.models.items()}

    # -- main loop --------------------------------------------------------------------------

    def stop(self, *_: Any) -> None:
        self._stop.set()
        self._wake.set()

    def wait(self, timeout_s: float) -> None:
        """Sleep until something may need the loop (a finished inference, a worker change), or
        `timeout_s` (for callers driving `tick()` themselves)."""
        self._wake.wait(timeout_s)
        self._wake.clear()

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
        self.resume()
        for desk in (self.audits, self.training):
            if desk is not None:
                desk.start()
        log.info(
            "node %s serving models %s on oracle %s (chain %d), conduct %s",
            self.address,
            sorted(self.model_names().values()),
            self.client.address,
            self.client.chain_id,
            self.conduct.name,
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
            self.wait(self.config.chain.poll_interval_s)
        self.close()

    def close(self) -> None:
        for desk in (self.audits, self.training):
            if desk is not None:
                desk.stop()
        self.inference.shutdown()
        self._peers.close()
        if self._api is not None:
            self._api.stop()
        self.store.close()

    def resume(self) -> None:
        """After a restart: every unfinished task is looked at again, against the chain."""
        for task in self.store.tasks(ACTIVE_STATES):
            self.scheduler.wake(task.task_id)
            self.scheduler.watch_deadline(task.task_id, task.commit_deadline)
            self.store.journal(task.task_id, "resumed", task.state)

    def tick(self) -> None:
        """One pass: the worker's health, new logs, finished inferences, then every task whose
        look is due."""
        self.inference.supervise()
        events = self.listener.poll()
        if not self.chain_ok:
            log.info("RPC reachable again; resuming")
        self.chain_ok, self.last_error = True, None
        for event in events:
            self.handle(event)
        self.steps.record_late_payouts()
        if self.listener.reorged:
            self.scheduler.wake_all_active()
        else:
            self.scheduler.wake_on_chain_time(self.listener.head_timestamp)
        for assignment in self.draws.check(self.listener.head):
            self.steps.take_on(assignment)
        self.draws.keep(self.listener.head)
        self.metrics.head_block.set(self.listener.head)
        self.steps.collect_inference()
        # A step can enable the next one at once (automine: the commit is mined by the time
        # send returns, maybe completing the commit phase), so go round a few times.
        for _ in range(4):
            due = self.scheduler.due()
            if not due:
                break
            for task_id in due:
                self.steps.advance(task_id)
        self.metrics.active_tasks.set(
            sum(self.store.count_by_state().get(s, 0) for s in ACTIVE_STATES)
        )
        self.backpressure.check()

    def advance(self, task_id: int) -> None:
        """Look at one task now and take the step it needs (the loop does this when it is due)."""
        self.steps.advance(task_id)

    def handle(self, event: EventData) -> None:
        """Route a log. A task wakes only for events that can change what it does next: it
        ended, one of our own transactions landed, or (once we committed) another member's
        commit, which may complete the set and open the reveal phase. Other members' reveals
        change nothing for us (the last reveal resolves and emits TaskResolved). Handling a log
        makes no RPC call, so a failing call cannot lose it."""
        name = event["event"]
        args = event["args"]
        if name == "TaskRequested":
            self.draws.on_request(event)
            return
        if "taskId" not in args:
            return
        task_id = int(args["taskId"])
        if name == "CommitteeDrawn":
            self.draws.drawn(task_id)
            return
        mine = str(args.get("operator", "")).lower() == self.address.lower()
        if name in ("TaskResolved", "TaskFailed"):
            self.steps.resolved_by(task_id, event["transactionHash"].to_0x_hex())
        elif name not in ("CommitSubmitted", "DigestRevealed") or (
            name == "DigestRevealed" and not mine
        ):
            return
        task = self.store.get_task(task_id)
        if task is None or task.state not in ACTIVE_STATES or task.state == TaskState.ASSIGNED:
            return
        if name == "CommitSubmitted" and not mine and task.state != TaskState.COMMITTED:
            return
        already = {
            "CommitSubmitted": (TaskState.COMMITTED, TaskState.REVEAL_SENT, TaskState.REVEALED),
            "DigestRevealed": (TaskState.REVEALED,),
        }
        if mine and task.state in already.get(name, ()):
            return  # our own transaction, already seen landing when we sent it
        self.scheduler.wake(task_id)

    # -- HTTP API ------------------------------------------------------------------------------

    def start_api(self) -> None:
        """Serve the HTTP API in its own thread (`run()` does this first when it is enabled)."""
        from oracle.node.api import create_app

        app = create_app(
            self,
            client=self.client,
            store=self.store,
            metrics=self.metrics,
            settings=self.config.api,
        )
        if self.audits is not None:
            from oracle.node.audit_api import add_audit_routes

            add_audit_routes(app, self.audits)
        if self.training is not None:
            self.training.add_routes(app)
        self._api = ApiServer(app, self.config.api, self.data_dir)
        self.api_url = self._api.start()
        log.info("HTTP API on %s", self.api_url)


def start_node(
    config: NodeConfig,
    account: LocalAccount,
    conduct: Conduct = HONEST,
    *,
    max_wait_s: float = 30.0,
) -> VerifierNode:
    """Build a node, waiting for an unreachable RPC (retrying with a backoff up to `max_wait_s`
    between tries) instead of exiting: a node started before its chain answers (a reboot, a
    restarted RPC node) serves once it does, as a running node rides out an outage."""
    delay = 1.0
    while True:
        try:
            return VerifierNode(config, account, conduct)
        except ChainUnavailableError as exc:
            log.warning("%s; trying again in %.0f s", exc, delay)
            time.sleep(delay)
            delay = min(2 * delay, max_wait_s)
