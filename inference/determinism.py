"""The determinism context every generation runs in, and the runtime fingerprint it records.

Inside ``deterministic(threads, device)``: deterministic algorithms on, a fixed intra-op thread
count, float32 matmuls at full precision (no TF32), gradients off; on CUDA also cuDNN
deterministic with benchmarking off and the cuBLAS workspace setting (``CUBLAS_WORKSPACE_CONFIG``,
which cuBLAS reads when it starts: set it before the first CUDA call, as ``default_device`` does).
Samplers draw from CPU ``torch.Generator`` objects (one per sample, see the runners), so the
random stream does not depend on the device. What still can change the low bits of a float is
recorded in the fingerprint: library versions, thread count, batch size, the CPU instruction set
torch uses, and the device (for CUDA: the GPU's name and compute capability, CUDA and cuDNN).
"""

from __future__ import annotations

import os
import platform
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata

import torch

from inference.errors import DeviceError, ThreadCountError

THREADS_ENV = "GENORACLE_THREADS"
DEVICE_ENV = "GENORACLE_DEVICE"
CUBLAS_WORKSPACE = ":4096:8"
"""The cuBLAS workspace setting that makes its matmuls deterministic (PyTorch's reproducibility
notes); a value already in the environment is kept."""
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


def check_device(device: str) -> str:
    """ "cpu", or "cuda" / "cuda:N" when that GPU is available; DeviceError otherwise. Setting up
    CUDA sets the cuBLAS workspace variable first (cuBLAS reads it once, when it starts)."""
    if device == "cpu":
        return device
    index_text = device.removeprefix("cuda").removeprefix(":")
    if not device.startswith("cuda") or (index_text and not index_text.isdigit()):
        raise DeviceError(f"device {device!r} is not 'cpu', 'cuda' or 'cuda:N'")
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    if not torch.cuda.is_available():
        raise DeviceError(
            f"device {device!r} asked for, but torch {torch.__version__} sees no CUDA GPU "
            f"(a CPU-only build, or no driver); use 'cpu' or install a CUDA build of torch"
        )
    index = int(index_text) if index_text else 0
    if index >= torch.cuda.device_count():
        raise DeviceError(f"device {device!r}: only {torch.cuda.device_count()} GPU(s) present")
    return device


def default_device() -> str:
    """GENORACLE_DEVICE if set ("cpu", "cuda" or "cuda:N", checked), else "cpu"."""
    return check_device(os.environ.get(DEVICE_ENV, "cpu").strip() or "cpu")


@contextmanager
def deterministic(threads: int | None = None, device: str = "cpu") -> Iterator[int]:
    """Run torch deterministically with a fixed thread count; restores the previous state."""
    count = default_threads() if threads is None else threads
    if count < 1:
        raise ThreadCountError(f"thread count {count} must be at least 1")
    cuda = check_device(device) != "cpu"
    with _STATE_LOCK:
        saved_deterministic = torch.are_deterministic_algorithms_enabled()
        saved_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
        saved_threads = torch.get_num_threads()
        saved_precision = torch.get_float32_matmul_precision()
        saved_cuda_tf32 = torch.backends.cuda.matmul.allow_tf32
        saved_cudnn_tf32 = torch.backends.cudnn.allow_tf32
        saved_cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
        if cuda:
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
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
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved_cudnn


def _installed_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in _FINGERPRINT_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def device_fingerprint(device: str) -> dict[str, object]:
    """The GPU and its libraries for a CUDA device (empty for the CPU)."""
    if device == "cpu" or not torch.cuda.is_available():
        return {}
    index = torch.device(device).index or 0
    major, minor = torch.cuda.get_device_capability(index)
    return {
        "gpu": torch.cuda.get_device_name(index),
        "gpu_capability": f"{major}.{minor}",
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),  # type: ignore[no-untyped-call]
        "cublas_workspace": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


def runtime_fingerprint(threads: int, batch_size: int, device: str = "cpu") -> dict[str, object]:
    """What may change the low bits of an output, recorded with every result."""
    return {
        **device_fingerprint(device),
        "python": platform.python_version(),
        "libraries": _installed_versions(),
        "threads": threads,
        "batch_size": batch_size,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "device": device,
        "machine": platform.machine(),
        "deterministic_algorithms": True,
    }
