"""Inference off the chain loop: a worker process (default) or thread that owns the loaded models.

The node's loop only submits `InferenceJob`s and collects `InferenceOutcome`s, so a slow generation
never delays a commit or reveal of another task. In a worker process the models are loaded by the
worker's first job, and a worker that dies is replaced (see `InferenceWorker`); the process asks
the kernel to kill it when the node dies (kill -9 included), so no orphan keeps burning CPU.

The worker runs exactly the job it is given: how the node chooses that job is its conduct's
business (oracle/node/conduct.py). Jobs run one at a time, earliest commit deadline first, in
both modes; each is priced against the model's compute budget for the deployment's commit
window before it runs (inference.compute_budget): an input over it is answered with the reserved
invalid-input digest, as every honest node answers it, instead of being computed past the window.

Long module: the worker process's lifecycle (load, supervise, restart with backoff, dispatch
one job at a time, earliest deadline first) is one state machine over one executor.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import functools
import heapq
import itertools
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oracle.logging_setup import configure_worker_logging, current_logging

log = logging.getLogger("genoracle.worker")

_MODELS: dict[bytes, Any] = {}  # model_id -> inference.models.LoadedModel, in the worker
_THREADS: list[int] = [1]  # torch threads per generation, fixed: it is part of the fingerprint
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ModelDescription:
    """A model the worker loaded: what the node needs to match on-chain model ids."""

    name: str
    model_id: bytes
    kind: str
    digest_scheme: str
    floor_tolerance: int  # the manifest's default tolerance as uint32: the honest floor
    budget_units: int  # the most one input may cost under the worker's commit window
    budget_unit: str  # what a unit counts ("latent-pixel evaluations", "token equivalents")
    defaults: dict[str, Any] = field(default_factory=dict)  # what an omitted input field means


@dataclass(frozen=True)
class InferenceJob:
    task_id: int
    model_id: bytes
    input: bytes
    entropy: bytes
    commit_deadline: int | None = None
    """Chain timestamp by which the digest must be committed: the worker runs the earliest
    first. None (benchmarks) queues after every job that has one."""
    tolerance: int | None = None
    """The task's on-chain tolerance (uint32): an input whose honest re-runs need more is
    answered with the reserved digest (inference.input_tolerance). None (benchmarks) skips it."""


@dataclass(frozen=True)
class InferenceOutcome:
    """A digest to commit, plus the artifact; `invalid_reason` set means the reserved digest."""

    task_id: int
    digest: bytes
    seconds: float
    artifact: bytes | None = None
    media_type: str | None = None
    invalid_reason: str | None = None
    token_ids: list[int] | None = None
    fingerprint: dict[str, object] = field(default_factory=dict)


def _die_with_parent() -> None:
    """Linux: deliver SIGKILL to this worker when its parent (the node) exits for any reason."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def _describe(model: Any, commit_window_s: int | None) -> ModelDescription:
    from inference.compute_budget import effective_budget

    budget = model.manifest.compute_budget
    return ModelDescription(
        name=str(model.manifest.name),
        model_id=bytes(model.model_id),
        kind=str(model.kind),
        digest_scheme=str(model.manifest.digest_scheme),
        floor_tolerance=model.manifest.tolerance.to_uint32(),
        budget_units=effective_budget(budget, commit_window_s),
        budget_unit=str(budget.unit),
        defaults=dict(model.manifest.defaults),
    )


def load_models(
    model_names: list[str],
    threads: int,
    in_child: bool,
    commit_window_s: int | None = None,
    logging_config: tuple[str, str] | None = None,
) -> list[ModelDescription]:
    """Load every configured model (the first job of a worker process, a direct call in thread
    mode). A model whose manifest has no compute budget is refused: nothing would bound what
    its inputs cost, and one expensive input would make every member miss the window.
    `logging_config`: the node's (level, format), which a spawned worker does not inherit."""
    if in_child:
        _die_with_parent()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the node decides when workers stop
        if logging_config is not None:
            configure_worker_logging(*logging_config)
    import torch

    torch.set_num_threads(threads)
    _THREADS[0] = threads
    from inference.errors import ManifestError
    from inference.models import load_model, resolve_model_folder

    for name in model_names:  # every name first: a wrong one fails before any model loads
        resolve_model_folder(name)
    described = []
    for name in model_names:
        model = load_model(name)
        if model.manifest.compute_budget is None:
            raise ManifestError(
                f"{name}: the manifest has no compute_budget, so a node cannot bound what an "
                f"input costs; measure the model (make bench-inference shows how) and write "
                f"one with 'genoracle models manifest FOLDER --budget JSON' (its modelId changes)"
            )
        _MODELS[bytes(model.model_id)] = model
        described.append(_describe(model, commit_window_s))
    if in_child:
        log.info("inference worker %d: models %s loaded", os.getpid(), model_names)
    return described


def describe_models(commit_window_s: int | None = None) -> list[ModelDescription]:
    """The models this worker holds (called through the pool after its initializer ran)."""
    return [_describe(model, commit_window_s) for model in _MODELS.values()]


def run_job(job: InferenceJob, commit_window_s: int | None = None) -> InferenceOutcome:
    """Validate the input, price it against the budget of a `commit_window_s` commit window
    (the model's cap alone without one), generate, digest; an invalid or over-budget input
    gives the reserved digest."""
    from inference.digests import INVALID_INPUT_DIGEST, Tolerance
    from inference.errors import InvalidInputError
    from inference.input_tolerance import check_task_tolerance
    from inference.runners import generate
    from inference.specs import ImageInput, TextInput, parse_input

    start = time.perf_counter()
    model = _MODELS.get(job.model_id)
    if model is None:
        raise LookupError(f"model 0x{job.model_id.hex()} is not loaded in this worker")
    try:
        spec: ImageInput | TextInput = parse_input(
            str(model.kind), job.input, model.manifest.defaults
        )
        if job.tolerance is not None:
            check_task_tolerance(model.manifest, spec, Tolerance.from_uint32(job.tolerance))
        result = generate(
            model,
            spec,
            task_id=job.task_id,
            entropy=job.entropy,
            threads=_THREADS[0],
            commit_window_s=commit_window_s,
        )
    except InvalidInputError as exc:
        return InferenceOutcome(
            job.task_id,
            INVALID_INPUT_DIGEST,
            time.perf_counter() - start,
            invalid_reason=str(exc) or type(exc).__name__,
        )
    # The node reports the runner's own time, not the queueing before it.
    return InferenceOutcome(
        task_id=job.task_id,
        digest=bytes(result.digest),
        seconds=float(result.seconds),
        artifact=bytes(result.artifact),
        media_type=str(result.media_type),
        token_ids=list(result.token_ids) if result.token_ids is not None else None,
        fingerprint=dict(result.fingerprint),
    )


@dataclass(frozen=True, order=True)
class _Queued:
    """A waiting job, ordered by (commit deadline, submission): a heap's top is the next job."""

    deadline: float
    sequence: int
    job: InferenceJob = field(compare=False)
    outer: concurrent.futures.Future[InferenceOutcome] = field(compare=False)

    @classmethod
    def of(
        cls,
        job: InferenceJob,
        sequence: int,
        outer: concurrent.futures.Future[InferenceOutcome],
    ) -> _Queued:
        deadline = float("inf") if job.commit_deadline is None else float(job.commit_deadline)
        return cls(deadline, sequence, job, outer)


class WorkerDied(concurrent.futures.BrokenExecutor):
    """The worker process died (killed, out of memory) while it ran this job."""


def _alive() -> int:
    """The liveness probe an idle worker answers: a dead one fails it with BrokenExecutor."""
    return os.getpid()


class InferenceWorker:
    """Owns the inference executor and keeps it alive; `submit` returns a future of
    `InferenceOutcome`.

    In process mode the worker is supervised: a worker process that dies (kill -9, out of
    memory), whether it was loading the models, running a job or idle, is replaced by a fresh
    one that loads the models again. Restarts back off exponentially (`backoff_s` doubling up to
    `max_backoff_s`) while the worker keeps dying without doing useful work. At startup the
    constructor retries until the models are loaded; afterwards `supervise()`, called from the
    node's loop, does it without blocking: jobs submitted meanwhile wait here and run once the
    fresh worker has loaded the models. The job a worker was running when it died fails with
    `WorkerDied` (a `BrokenExecutor`): whether to run it again is the caller's decision (a job
    that kills the worker every time must not be retried forever). A loader that raises (an
    unknown model, broken files, no compute budget) is not a death: that error is raised to the
    caller at startup.

    Both modes queue jobs here and hand the worker one at a time, earliest commit deadline first
    (EDF; ties and jobs without a deadline in submission order), from `submit` and `supervise`:
    a job retried after a worker death, or a task found late, goes before younger tasks instead
    of behind them. A queued job's future can be cancelled (the node does it once the commit
    window has closed), and it never runs. `commit_window_s` is the deployment's commit window:
    every job is priced against the budget it gives (see inference.compute_budget).
    """

    def __init__(
        self,
        model_names: list[str],
        *,
        mode: str = "process",
        threads: int = 1,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        probe_interval_s: float = 1.0,
        on_change: Callable[[], None] | None = None,
        commit_window_s: int | None = None,
    ) -> None:
        if mode not in ("process", "thread"):
            raise ValueError(f"worker mode must be 'process' or 'thread', not {mode!r}")
        self.mode = mode
        self._model_names = model_names
        self._threads = threads
        self.commit_window_s = commit_window_s
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._probe_interval_s = probe_interval_s
        self._on_change = on_change or (lambda: None)
        self._lock = threading.Lock()
        self.restarts = 0  # fresh worker processes started after a death
        self.deaths = 0
        self._failures = 0  # deaths in a row without the worker doing a job (for the backoff)
        self._died: str | None = None  # set by a future's callback; handled in supervise()
        self._restart_at: float | None = None  # down: when to start a fresh worker
        self._loading: concurrent.futures.Future[list[ModelDescription]] | None = None
        self._up_since = 0.0
        self._waiting: list[_Queued] = []  # a heap: earliest deadline first
        self._sequence = itertools.count()
        self._running: concurrent.futures.Future[Any] | None = None  # job or probe in the worker
        self._last_probe = 0.0
        self._events: list[str] = []
        self._generation = 0  # of the current worker process: older futures' news is stale
        self._executor: concurrent.futures.Executor | None = None
        if mode == "thread":
            self.models = load_models(model_names, threads, False, commit_window_s)
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="inference"
            )
            return
        self.models = self._start_blocking()

    # -- process lifecycle (process mode) ------------------------------------------------------

    def _launch(
        self,
    ) -> tuple[concurrent.futures.Executor, concurrent.futures.Future[list[ModelDescription]]]:
        self._generation += 1
        executor = concurrent.futures.ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn")
        )
        # Loading is the worker's first job (not a pool initializer): a loader error comes back
        # as itself, and a death while loading as a BrokenExecutor.
        loading = executor.submit(
            load_models,
            self._model_names,
            self._threads,
            True,
            self.commit_window_s,
            current_logging(),
        )
        return executor, loading

    def _next_delay(self) -> float:
        self._failures += 1
        return float(min(self._max_backoff_s, self._backoff_s * 2 ** (self._failures - 1)))

    def _start_blocking(self) -> list[ModelDescription]:
        """Start a worker and load the models, starting a fresh one each time it dies."""
        while True:
            executor, loading = self._launch()
            try:
                models = loading.result()
            except concurrent.futures.BrokenExecutor:
                executor.shutdown(wait=False, cancel_futures=True)
                self.deaths += 1
                delay = self._next_delay()
                log.warning(
                    "the inference worker died while loading the models %s; "
                    "starting a fresh one in %.1f s",
                    self._model_names,
                    delay,
                )
                time.sleep(delay)
                self.restarts += 1
                continue
            except BaseException:
                executor.shutdown(wait=False, cancel_futures=True)
                raise
            self._executor = executor
            self._up_since = time.monotonic()
            return models

    def _watch(self, future: concurrent.futures.Future[Any], what: str, wake: bool) -> None:
        """Note a death the future reports; wake the node for it (and, with `wake`, for the
        future's end: e.g. the models are loaded, waiting jobs can go)."""
        generation = self._generation

        def done(f: concurrent.futures.Future[Any]) -> None:
            died = not f.cancelled() and isinstance(
                f.exception(), concurrent.futures.BrokenExecutor
            )
            if died:
                with self._lock:
                    if self._died is None and generation == self._generation:
                        self._died = what
            if died or wake:
                self._on_change()

        future.add_done_callback(done)

    def supervise(self) -> list[str]:
        """One look at the worker, from the node's loop (never blocks on the worker): notice a
        death, start a fresh worker once its backoff has passed, hand the next waiting job over,
        probe an idle worker. Returns what happened (deaths, restarts) for the node's journal."""
        now = time.monotonic()
        if self.mode == "thread":
            self._dispatch(now)  # a thread does not die; it only needs its next job
            return []
        with self._lock:
            died, self._died = self._died, None
        if died is not None and self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor, self._loading, self._running = None, None, None
            self.deaths += 1
            delay = self._next_delay()
            self._restart_at = now + delay
            message = f"worker process died ({died}); starting a fresh one in {delay:.1f} s"
            log.warning("inference %s", message)
            self._events.append(message)
        if self._executor is None:
            if self._restart_at is not None and now >= self._restart_at:
                try:
                    self._executor, self._loading = self._launch()
                except Exception as exc:  # e.g. no process can be started now: try again later
                    self._restart_at = now + self._next_delay()
                    log.warning("could not start an inference worker: %s", exc)
                else:
                    self._restart_at = None
                    self.restarts += 1
                    self._watch(self._loading, "while loading the models", wake=True)
                    message = f"fresh worker process started (restart {self.restarts})"
                    log.info("inference %s", message)
                    self._events.append(message)
        elif self._loading is not None and self._loading.done():
            loading, self._loading = self._loading, None
            error = loading.exception()
            if error is None:
                self._up_since = now
                log.info("inference worker ready again: models %s", self._model_names)
            else:
                # Died while loading, or the models loaded at startup but not now (files gone?):
                # either way a fresh worker tries again after the backoff.
                with self._lock:
                    self._died = self._died or f"loading the models failed: {error!r}"
                return self._drain_events() + self.supervise()
        if self._executor is not None and self._loading is None:
            if self._failures and now - self._up_since >= self._max_backoff_s:
                self._failures = 0  # up for a while: the next death starts the backoff anew
            self._dispatch(now)
        return self._drain_events()

    def _drain_events(self) -> list[str]:
        events, self._events = self._events, []
        return events

    def _dispatch(self, now: float) -> None:
        """Hand the worker its next job, the one with the earliest commit deadline (one at a
        time: only the job running when the worker dies fails with it, and a job that came
        later with an earlier deadline overtakes every job still queued), or a liveness probe
        when a worker process is idle."""
        assert self._executor is not None
        if self._running is not None and not self._running.done():
            return
        self._running = None
        try:
            while self._waiting:
                queued = self._waiting[0]
                if queued.outer.cancelled():  # the node gave up on it
                    heapq.heappop(self._waiting)
                    continue
                inner = self._executor.submit(run_job, queued.job, self.commit_window_s)
                heapq.heappop(self._waiting)
                if not queued.outer.set_running_or_notify_cancel():
                    inner.cancel()
                    continue
                self._running = inner
                what = f"while running the job of task {queued.job.task_id}"
                self._watch(inner, what, wake=True)
                inner.add_done_callback(functools.partial(self._settle, outer=queued.outer))
                return
            if self.mode == "process" and now - self._last_probe >= self._probe_interval_s:
                self._last_probe = now
                self._running = self._executor.submit(_alive)
                self._watch(self._running, "while idle", wake=False)
        except concurrent.futures.BrokenExecutor as exc:
            # It died since the last look (its futures' news is on the way): the job waits.
            with self._lock:
                self._died = self._died or f"found dead: {exc}"

    def _settle(
        self,
        inner: concurrent.futures.Future[InferenceOutcome],
        outer: concurrent.futures.Future[InferenceOutcome],
    ) -> None:
        if inner.cancelled():
            outer.set_exception(WorkerDied("the worker was stopped before it ran the job"))
            return
        error = inner.exception()
        if isinstance(error, concurrent.futures.BrokenExecutor):
            outer.set_exception(WorkerDied(f"the worker process died: {error}"))
        elif error is not None:
            outer.set_exception(error)
        else:
            self._failures = 0
            outer.set_result(inner.result())

    # -- jobs -----------------------------------------------------------------------------------

    def submit(self, job: InferenceJob) -> concurrent.futures.Future[InferenceOutcome]:
        """Queue a job (it runs at once if the worker is idle). Cancelling the future before
        the job runs takes it out of the queue."""
        outer: concurrent.futures.Future[InferenceOutcome] = concurrent.futures.Future()
        heapq.heappush(self._waiting, _Queued.of(job, next(self._sequence), outer))
        if self._executor is not None and self._loading is None:
            self._dispatch(time.monotonic())
        return outer

    @property
    def queued(self) -> int:
        """Jobs waiting for the worker (not running, not cancelled)."""
        return sum(not queued.outer.cancelled() for queued in self._waiting)

    @property
    def ready(self) -> bool:
        """A worker is up with its models loaded (process mode; a thread is always ready)."""
        return self.mode != "process" or (self._executor is not None and self._loading is None)

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        for queued in self._waiting:
            queued.outer.cancel()
        self._waiting.clear()
