"""Inference off the chain loop: a worker process (default) or thread that owns the loaded models.

The node's loop only submits `InferenceJob`s and collects `InferenceOutcome`s, so a slow generation
never delays a commit or reveal of another task. In a worker process the models are loaded once by
the pool initializer; the process asks the kernel to kill it when the node dies (kill -9 included),
so no orphan keeps burning CPU.

The dishonest behaviours (`lazy`, `random`) are TEST ONLY: they exist so the end-to-end tests can
show that a cheating operator is outvoted and slashed. The node refuses them unless the config
sets `node.allow_dishonest_behaviour = true`.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import multiprocessing
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True)
class InferenceJob:
    task_id: int
    model_id: bytes
    input: bytes
    entropy: bytes
    behaviour: str = "honest"


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


def load_models(model_names: list[str], threads: int, in_child: bool) -> list[ModelDescription]:
    """Load every configured model (pool initializer in a child, direct call in thread mode)."""
    if in_child:
        _die_with_parent()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the node decides when workers stop
    import torch

    torch.set_num_threads(threads)
    _THREADS[0] = threads
    from inference.models import load_model

    described = []
    for name in model_names:
        model = load_model(name)
        model_id = bytes(model.model_id)
        _MODELS[model_id] = model
        described.append(
            ModelDescription(
                name=str(model.manifest.name),
                model_id=model_id,
                kind=str(model.kind),
                digest_scheme=str(model.manifest.digest_scheme),
                floor_tolerance=model.manifest.tolerance.to_uint32(),
            )
        )
    return described


def describe_models() -> list[ModelDescription]:
    """The models this worker holds (called through the pool after its initializer ran)."""
    return [
        ModelDescription(
            str(m.manifest.name),
            model_id,
            str(m.kind),
            str(m.manifest.digest_scheme),
            m.manifest.tolerance.to_uint32(),
        )
        for model_id, m in _MODELS.items()
    ]


def run_job(job: InferenceJob) -> InferenceOutcome:
    """Validate the input, generate, digest; invalid input gives the reserved digest."""
    from inference.digests import INVALID_INPUT_DIGEST
    from inference.errors import InvalidInputError
    from inference.runners import generate
    from inference.specs import ImageInput, TextInput, parse_input

    start = time.perf_counter()
    if job.behaviour == "random":  # TEST ONLY: a digest that proves no work at all
        return InferenceOutcome(job.task_id, os.urandom(32), time.perf_counter() - start)
    model = _MODELS.get(job.model_id)
    if model is None:
        raise LookupError(f"model 0x{job.model_id.hex()} is not loaded in this worker")
    try:
        spec: ImageInput | TextInput = parse_input(str(model.kind), job.input)
        if job.behaviour == "lazy":  # TEST ONLY: skip the requested work, answer something else
            spec = _lazy_variant(spec, job)
        result = generate(
            model, spec, task_id=job.task_id, entropy=job.entropy, threads=_THREADS[0]
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


def _lazy_variant(spec: Any, job: InferenceJob) -> Any:
    """A cheaper or wrong request: another seed for images, half the tokens for text."""
    from inference.seeds import resolve_seed
    from inference.specs import ImageInput

    if isinstance(spec, ImageInput):
        seed = resolve_seed(spec.seed, job.task_id, job.entropy)
        return spec.model_copy(update={"seed": seed % ((1 << 63) - 2) + 1})
    return spec.model_copy(update={"max_new_tokens": max(1, spec.max_new_tokens // 2)})


class InferenceWorker:
    """Owns the executor; `submit` returns a future of `InferenceOutcome`."""

    def __init__(self, model_names: list[str], *, mode: str = "process", threads: int = 1) -> None:
        self.mode = mode
        self._model_names = model_names
        self._threads = threads
        if mode == "thread":
            self.models = load_models(model_names, threads, in_child=False)
        self._executor = self._start()
        if mode == "process":
            self.models = self._executor.submit(describe_models).result()

    def _start(self) -> concurrent.futures.Executor:
        if self.mode == "process":
            return concurrent.futures.ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=load_models,
                initargs=(self._model_names, self._threads, True),
            )
        return concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")

    def submit(self, job: InferenceJob) -> concurrent.futures.Future[InferenceOutcome]:
        try:
            return self._executor.submit(run_job, job)
        except concurrent.futures.BrokenExecutor:
            # The worker process died (OOM, killed): start a fresh one and go on.
            self._executor = self._start()
            return self._executor.submit(run_job, job)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
