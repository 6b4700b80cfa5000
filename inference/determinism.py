"""The determinism context every generation runs in, and the runtime fingerprint it records.

Inside ``deterministic(threads)``: deterministic algorithms on, a fixed intra-op thread count,
float32 matmuls at full precision (no TF32), gradients off. Samplers draw from CPU
``torch.Generator`` objects (one per sample, see the runners), so the random stream does not
depend on the device. What still can change the low bits of a float is recorded in the
fingerprint: library versions, thread count, batch size and the CPU instruction set torch uses.
"""

from __future__ import annotations

import os
import platform
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata

import torch

from inference.errors import ThreadCountError

THREADS_ENV = "GENORACLE_THREADS"
_FINGERPRINT_LIBRARIES = (
    "torch",
    "diffusers",
    "transformers",
    "tokenizers",
    "numpy",
    "pillow",
    "scipy",
    "imagehash",
)

_STATE_LOCK = threading.RLock()
"""torch's determinism switches and thread count are process-wide: one generation at a time."""


def default_threads() -> int:
    """GENORACLE_THREADS if set, else 1.

    One thread is the safe default: on a machine whose cores are shared (several nodes, or a
    node beside other work), OpenMP threads that spin-wait for a busy core made a tiny-sd
    generation 30-100x slower with 2 threads than with 1. A node that owns its cores sets
    GENORACLE_THREADS; the count is recorded in the fingerprint and does not change digests
    beyond the tolerance.
    """
    value = os.environ.get(THREADS_ENV)
    if value is None:
        return 1
    try:
        threads = int(value)
    except ValueError:
        raise ThreadCountError(f"{THREADS_ENV}={value!r} is not an integer") from None
    if threads < 1:
        raise ThreadCountError(f"{THREADS_ENV}={threads} must be at least 1")
    return threads


@contextmanager
def deterministic(threads: int | None = None) -> Iterator[int]:
    """Run torch deterministically with a fixed thread count; restores the previous state."""
    count = default_threads() if threads is None else threads
    if count < 1:
        raise ThreadCountError(f"thread count {count} must be at least 1")
    with _STATE_LOCK:
        saved_deterministic = torch.are_deterministic_algorithms_enabled()
        saved_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
        saved_threads = torch.get_num_threads()
        saved_precision = torch.get_float32_matmul_precision()
        saved_cuda_tf32 = torch.backends.cuda.matmul.allow_tf32
        saved_cudnn_tf32 = torch.backends.cudnn.allow_tf32
        torch.use_deterministic_algorithms(True)
        torch.set_num_threads(count)
        torch.set_float32_matmul_precision("highest")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        try:
            with torch.inference_mode():
                yield count
        finally:
            torch.use_deterministic_algorithms(saved_deterministic, warn_only=saved_warn_only)
            torch.set_num_threads(saved_threads)
            torch.set_float32_matmul_precision(saved_precision)
            torch.backends.cuda.matmul.allow_tf32 = saved_cuda_tf32
            torch.backends.cudnn.allow_tf32 = saved_cudnn_tf32


def _installed_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in _FINGERPRINT_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def runtime_fingerprint(threads: int, batch_size: int, device: str = "cpu") -> dict[str, object]:
    """What may change the low bits of an output, recorded with every result."""
    return {
        "python": platform.python_version(),
        "libraries": _installed_versions(),
        "threads": threads,
        "batch_size": batch_size,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "device": device,
        "machine": platform.machine(),
        "deterministic_algorithms": True,
    }
