"""What a node's desk for an attached task module (AuditedTasks, TrainingTasks) does beside its
own protocol: a client of the module's contract, a thread of its own (a generation, an audit or
a training round must not stall the replicated loop) that reads the module's new logs and steps
every open job, and transactions sent once per (task, step).

A desk subclass says how a log becomes a job (`on_event`) and what a job's next step is (`step`).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from oracle.chain.client import ChainClient
from oracle.chain.contract import load_abi
from oracle.errors import ChainError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from oracle.config import NodeConfig
    from oracle.node.conduct import Conduct

RECEIPT_WAIT_S = 120.0
"""How long a desk waits for its transaction's receipt."""


class ModuleJob(Protocol):
    """What a desk keeps of one task: its id and the steps whose transaction was mined."""

    task_id: int
    sent: frozenset[str]


JobT = TypeVar("JobT", bound=ModuleJob)


class ModuleDesk(Generic[JobT]):
    """A node's part in one attached task module's tasks (see the module docstring)."""

    kind: ClassVar[str]
    """The tasks' kind in logs and the thread's name ("audited", "training")."""
    contract: ClassVar[str]
    """The module's contract (its ABI's name)."""
    resolving_gas: ClassVar[int]
    """Gas for a transaction that may be mined last and so end its task (settles, calls back)."""
    stop_wait_s: ClassVar[float] = 30.0
    """How long `stop` waits for a step in progress."""

    def __init__(
        self,
        config: NodeConfig,
        account: LocalAccount,
        oracle: ChainClient,
        address: str,
        conduct: Conduct,
        start_block: int,
    ) -> None:
        self.account = account
        self.me = account.address
        self.oracle = oracle
        self.conduct = conduct
        self.client = ChainClient(
            config.chain, account, oracle_address=address, abi=load_abi(self.contract)
        )
        self.address = self.client.address
        self.chain_id = self.client.chain_id
        self.threads = config.node.inference_threads
        self.timeout_s = max(5.0, config.node.peer_timeout_s)
        self.next_block = start_block
        self.jobs: dict[int, JobT] = {}
        self.log = logging.getLogger(f"genoracle.node.{self.kind}")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what a desk says ------------------------------------------------------------------

    def on_event(self, event: Any) -> None:
        """One of the module's logs, in chain order."""
        raise NotImplementedError

    def step(self, job: JobT) -> None:
        """Looks at the chain and takes the job's next step, if it has one now."""
        raise NotImplementedError

    def active(self, job: JobT) -> bool:
        """Whether the job still needs steps (a finished one may be kept for its record)."""
        return True

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=self.kind, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.stop_wait_s)

    def run(self) -> None:
        self.log.info("%s tasks on %s %s", self.kind, self.contract, self.address)
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                self.log.exception("%s desk: unexpected error; retrying", self.kind)
                self._stop.wait(1.0)
            self._stop.wait(0.3)

    def tick(self) -> None:
        """One pass: the logs since the last pass, then a step of every active job."""
        head = self.client.block_number()
        if head >= self.next_block:
            for event in self.client.logs(self.next_block, head):
                self.on_event(event)
            self.next_block = head + 1
        for job in list(self.jobs.values()):
            if not self.active(job):
                continue
            try:
                self.step(job)
            except ChainError as exc:
                self.log.warning("%s task %d: %s", self.kind, job.task_id, exc)

    # -- transactions ----------------------------------------------------------------------

    def send_once(
        self, job: JobT, key: str, function: str, *args: Any, resolving: bool = False
    ) -> bool:
        """Sends `function` once per (task, `key`) and waits for it; a revert (someone was
        first) is logged and the step may be tried again. Whether it was mined."""
        if key in job.sent:
            return False
        gas_floor = self.resolving_gas if resolving else 0
        try:
            sent = self.client.send(function, *args, gas_floor=gas_floor)
        except ChainError as exc:
            self.log.info("%s task %d: %s not sent: %s", self.kind, job.task_id, function, exc)
            return False
        job.sent = job.sent | {key}
        receipt = self.client.wait_for_receipt(sent.tx_hash, RECEIPT_WAIT_S)
        if receipt["status"] != 1:
            job.sent = job.sent - {key}
            self.log.warning("%s task %d: %s reverted", self.kind, job.task_id, function)
            return False
        self.log.info("%s task %d: %s mined", self.kind, job.task_id, function)
        return True
