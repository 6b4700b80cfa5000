"""The node's side of inference: jobs handed to the supervised worker, their outcomes collected
on the loop, and a job that kills the worker every time given up after a bounded number of tries.

Each job carries its task's commit deadline (the worker runs the earliest first), and the worker
prices each input against the budget of the deployment's commit window, so an input too costly
to finish in time is answered as invalid by every member alike. A job still queued when its
commit window closes is dropped: no commit can land any more, and running it would only delay
the tasks that can still make their window."""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import logging
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from inference.errors import ModelNotFoundError
from oracle.config import NodeSettings
from oracle.errors import OracleError
from oracle.node.conduct import Conduct
from oracle.node.metrics import NodeMetrics
from oracle.node.store import Store, TaskRecord
from oracle.node.worker import InferenceJob, InferenceOutcome, InferenceWorker, ModelDescription

log = logging.getLogger("genoracle.node")

PACE_WINDOW = 20
"""Recent jobs per model whose run time gives the pace a queued job is expected to run at."""


@dataclass(frozen=True)
class InferenceFailure:
    """The job could not produce a digest (a model bug, or the worker died on every try)."""

    reason: str


@dataclass(frozen=True)
class InferenceDropped:
    """The commit window closed while the job still waited for the worker: it never ran."""

    reason: str


@dataclass(frozen=True)
class _InFlight:
    """A task's job between its submission and its collection."""

    future: concurrent.futures.Future[InferenceOutcome]
    commit_deadline: int  # chain time
    model_id: bytes


class InferenceQueue:
    def __init__(
        self,
        settings: NodeSettings,
        store: Store,
        metrics: NodeMetrics,
        conduct: Conduct,
        on_change: Callable[[], None],
        *,
        commit_window_s: int,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._conduct = conduct
        self._max_attempts = settings.max_step_attempts
        self._worker = self._start_worker(settings, on_change, commit_window_s)
        self._on_change = on_change
        self.commit_window_s = commit_window_s
        self.models: dict[bytes, ModelDescription] = {m.model_id: m for m in self._worker.models}
        self._inflight: dict[int, _InFlight] = {}
        self._attempts: dict[int, int] = {}  # task -> worker deaths so far (kept across retries)
        self._restarts_seen = 0
        self._recent_seconds: dict[bytes, collections.deque[float]] = {}

    @staticmethod
    def _start_worker(
        settings: NodeSettings, on_change: Callable[[], None], commit_window_s: int
    ) -> InferenceWorker:
        """Load the models in the worker. A worker process that dies meanwhile (killed, out of
        memory) is replaced until the models are loaded (with a backoff); only a loader that
        fails by itself (an unknown model, broken files, no compute budget) stops the node here.

        The worker prices every input against the budget of `commit_window_s`, the deployment's
        commit window (immutable on chain: every member of every task refuses the same inputs)."""
        names = list(settings.models)
        try:
            worker = InferenceWorker(
                names,
                mode=settings.worker,
                threads=settings.inference_threads,
                on_change=on_change,
                commit_window_s=commit_window_s,
            )
        except OracleError:
            raise
        except Exception as exc:
            detail = " ".join(str(exc).split())  # one line, whatever the loader said
            fix = ""
            if isinstance(exc, ModelNotFoundError):
                fix = (
                    "; fix node.models in the node's config: built-in names (see `genoracle "
                    "models list`), folders holding a manifest.json, or hub ids owner/name"
                )
            raise OracleError(
                f"the inference worker could not load node.models = {names}: "
                f"{type(exc).__name__}: {detail}{fix}"
            ) from exc
        for model in worker.models:
            log.info(
                "%s: inputs up to %s %s (the budget of a %d s commit window); costlier ones "
                "are answered as invalid",
                model.name,
                f"{model.budget_units:,}",
                model.budget_unit,
                commit_window_s,
            )
        return worker

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
        """Queue the task's job with its commit deadline: the worker runs the earliest first."""
        if task.task_id in self._inflight:
            return
        job = InferenceJob(
            task.task_id,
            task.model_id,
            task.input,
            task.entropy,
            commit_deadline=task.commit_deadline,
            tolerance=task.tolerance,
        )
        planned = self._conduct.inference(job, self.models[task.model_id])
        future: concurrent.futures.Future[InferenceOutcome]
        if isinstance(planned, InferenceOutcome):
            future = concurrent.futures.Future()
            future.set_result(planned)
        else:
            # Whatever job the conduct plans, it is due when the task's commit is.
            planned = dataclasses.replace(planned, commit_deadline=task.commit_deadline)
            future = self._worker.submit(planned)
        future.add_done_callback(lambda _: self._on_change())
        self._inflight[task.task_id] = _InFlight(future, task.commit_deadline, task.model_id)

    def cancel(self, task_id: int) -> None:
        job = self._inflight.pop(task_id, None)
        if job is not None:
            job.future.cancel()
        self._attempts.pop(task_id, None)

    @property
    def queued(self) -> int:
        """Jobs waiting for the worker (not running yet)."""
        return self._worker.queued

    def backlog_seconds(self) -> float | None:
        """The worker time the jobs in flight (queued or running) still need, at the pace of
        each model's recent jobs (the median run time of the last PACE_WINDOW valid ones); None
        while a job in flight is of a model with no job run yet (just started or restarted).
        A running job counts whole: an upper bound."""
        pace = {
            model_id: statistics.median(seconds)
            for model_id, seconds in self._recent_seconds.items()
            if seconds
        }
        backlog = 0.0
        for job in self._inflight.values():
            if job.future.done():
                continue
            seconds = pace.get(job.model_id)
            if seconds is None:
                return None
            backlog += seconds
        return backlog

    def _drop_expired(self, head_timestamp: int) -> list[tuple[int, InferenceDropped]]:
        """Take out of the worker's queue each job whose commit deadline the chain's time has
        passed. A job already running is left to finish (its digest comes too late and the
        commit step records the miss; only killing the worker could stop it, and the compute
        budget bounds it)."""
        dropped: list[tuple[int, InferenceDropped]] = []
        for task_id, job in list(self._inflight.items()):
            if head_timestamp <= job.commit_deadline or not job.future.cancel():
                continue
            del self._inflight[task_id]
            self._attempts.pop(task_id, None)
            reason = (
                "commit window closed while the inference was still queued behind other "
                f"tasks; dropped without computing it ({self._worker.queued} job(s) still queued)"
            )
            dropped.append((task_id, InferenceDropped(reason)))
        return dropped

    def collect(
        self, head_timestamp: int
    ) -> list[tuple[int, InferenceOutcome | InferenceFailure | InferenceDropped]]:
        """The jobs that ended since the last call, and those dropped from the queue because
        the chain's time (`head_timestamp`) passed their commit deadline. A job whose worker
        process died (killed, out of memory) runs again in the fresh worker, up to
        `max_step_attempts` times, if its commit window is still open."""
        finished: list[tuple[int, InferenceOutcome | InferenceFailure | InferenceDropped]] = []
        finished.extend(self._drop_expired(head_timestamp))
        for task_id, job in list(self._inflight.items()):
            if not job.future.done():
                continue
            del self._inflight[task_id]
            try:
                outcome = job.future.result()
            except concurrent.futures.CancelledError:
                continue
            except concurrent.futures.BrokenExecutor as exc:
                self._attempts[task_id] = self._attempts.get(task_id, 0) + 1
                task = self._store.get_task(task_id)
                if head_timestamp > job.commit_deadline:
                    reason = "the worker died running it, and the commit window has closed"
                    finished.append((task_id, InferenceDropped(reason)))
                    continue
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
            if outcome.invalid_reason is None:
                # An invalid input is answered before any generation: not the model's pace.
                self._recent_seconds.setdefault(
                    job.model_id, collections.deque(maxlen=PACE_WINDOW)
                ).append(outcome.seconds)
            finished.append((task_id, outcome))
        return finished

    def shutdown(self) -> None:
        self._worker.shutdown()
