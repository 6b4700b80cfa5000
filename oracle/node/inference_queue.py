"""The node's side of inference: jobs handed to the supervised worker, their outcomes collected
on the loop, and a job that kills the worker every time given up after a bounded number of tries."""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import dataclass

from oracle.config import NodeSettings
from oracle.errors import OracleError
from oracle.node.conduct import Conduct
from oracle.node.metrics import NodeMetrics
from oracle.node.store import Store, TaskRecord
from oracle.node.worker import InferenceJob, InferenceOutcome, InferenceWorker, ModelDescription

log = logging.getLogger("genoracle.node")


@dataclass(frozen=True)
class InferenceFailure:
    """The job could not produce a digest (a model bug, or the worker died on every try)."""

    reason: str


class InferenceQueue:
    def __init__(
        self,
        settings: NodeSettings,
        store: Store,
        metrics: NodeMetrics,
        conduct: Conduct,
        on_change: Callable[[], None],
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._conduct = conduct
        self._max_attempts = settings.max_step_attempts
        self._worker = self._start_worker(settings, on_change)
        self._on_change = on_change
        self.models: dict[bytes, ModelDescription] = {m.model_id: m for m in self._worker.models}
        self._inflight: dict[int, concurrent.futures.Future[InferenceOutcome]] = {}
        self._attempts: dict[int, int] = {}
        self._restarts_seen = 0

    @staticmethod
    def _start_worker(settings: NodeSettings, on_change: Callable[[], None]) -> InferenceWorker:
        """Load the models in the worker. A worker process that dies meanwhile (killed, out of
        memory) is replaced until the models are loaded (with a backoff); only a loader that
        fails by itself (an unknown model, broken files) stops the node here."""
        names = list(settings.models)
        try:
            return InferenceWorker(
                names,
                mode=settings.worker,
                threads=settings.inference_threads,
                on_change=on_change,
            )
        except OracleError:
            raise
        except Exception as exc:
            raise OracleError(
                f"the inference worker could not load the models {names}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def supervise(self) -> None:
        """Restart a dead inference worker (after its backoff), without blocking the loop: it
        runs even while the RPC is down, and a failure here never stops the chain work."""
        try:
            events = self._worker.supervise()
        except Exception:
            log.exception("supervising the inference worker failed; trying again next tick")
            return
        restarts = self._worker.restarts - self._restarts_seen
        if restarts > 0:
            self._metrics.worker_restarts.inc(restarts)
            self._restarts_seen = self._worker.restarts
        for event in events:
            for task_id in sorted(self._inflight):
                self._store.journal(task_id, "worker_restart", event)

    @property
    def ready(self) -> bool:
        return self._worker.ready

    def running(self, task_id: int) -> bool:
        return task_id in self._inflight

    def submit(self, task: TaskRecord) -> None:
        if task.task_id in self._inflight:
            return
        job = InferenceJob(task.task_id, task.model_id, task.input, task.entropy)
        planned = self._conduct.inference(job, self.models[task.model_id])
        future: concurrent.futures.Future[InferenceOutcome]
        if isinstance(planned, InferenceOutcome):
            future = concurrent.futures.Future()
            future.set_result(planned)
        else:
            future = self._worker.submit(planned)
        future.add_done_callback(lambda _: self._on_change())
        self._inflight[task.task_id] = future

    def cancel(self, task_id: int) -> None:
        future = self._inflight.pop(task_id, None)
        if future is not None:
            future.cancel()
        self._attempts.pop(task_id, None)

    def collect(self) -> list[tuple[int, InferenceOutcome | InferenceFailure]]:
        """The jobs that ended since the last call. A job whose worker process died (killed, out
        of memory) runs again in the fresh worker, up to `max_step_attempts` times."""
        finished: list[tuple[int, InferenceOutcome | InferenceFailure]] = []
        for task_id, future in list(self._inflight.items()):
            if not future.done():
                continue
            del self._inflight[task_id]
            try:
                outcome = future.result()
            except concurrent.futures.CancelledError:
                continue
            except concurrent.futures.BrokenExecutor as exc:
                self._attempts[task_id] = self._attempts.get(task_id, 0) + 1
                task = self._store.get_task(task_id)
                if self._attempts[task_id] < self._max_attempts and task is not None:
                    self._store.journal(task_id, "inference_retry", str(exc))
                    self.submit(task)
                    continue
                reason = "inference failed: the worker process died on every attempt"
                finished.append((task_id, InferenceFailure(reason)))
                continue
            except Exception as exc:  # a model bug must not stop the node; record it
                reason = f"inference failed: {type(exc).__name__}: {exc}"
                finished.append((task_id, InferenceFailure(reason)))
                continue
            self._attempts.pop(task_id, None)
            finished.append((task_id, outcome))
        return finished

    def shutdown(self) -> None:
        self._worker.shutdown()
