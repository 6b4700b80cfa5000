"""The device a node runs on: the CPU by default, a CUDA GPU when GENORACLE_DEVICE names one,
with the CUDA determinism settings and the GPU recorded in the fingerprint. The GPU tests skip
cleanly on a machine without CUDA."""

from __future__ import annotations

import pytest
import torch

from inference.determinism import (
    CUBLAS_WORKSPACE,
    DEVICE_ENV,
    check_device,
    default_device,
    deterministic,
    runtime_fingerprint,
)
from inference.digests import digests_agree, lane_distances
from inference.errors import DeviceError
from inference.models import load_model
from inference.runners import generate
from inference.specs import ImageInput, TextInput

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


def test_the_cpu_is_the_default_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    assert default_device() == "cpu"
    assert runtime_fingerprint(1, 1)["device"] == "cpu"


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "gpu0"])
def test_an_unknown_device_is_refused(name: str) -> None:
    with pytest.raises(DeviceError, match="is not 'cpu', 'cuda' or 'cuda:N'"):
        check_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    with pytest.raises(DeviceError, match="sees no CUDA GPU"):
        default_device()


@needs_cuda
def test_the_cuda_context_is_deterministic() -> None:
    with deterministic(1, "cuda"):
        assert torch.backends.cudnn.deterministic
        assert not torch.backends.cudnn.benchmark
        assert not torch.backends.cuda.matmul.allow_tf32
        assert torch.are_deterministic_algorithms_enabled()
    fingerprint = runtime_fingerprint(1, 1, "cuda")
    assert fingerprint["device"] == "cuda"
    assert fingerprint["cublas_workspace"] == CUBLAS_WORKSPACE
    assert {"gpu", "gpu_capability", "cuda", "cudnn"} <= set(fingerprint)


@needs_cuda
def test_tiny_sd_on_the_gpu_agrees_with_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ImageInput(prompt="a red fox", seed=1, steps=10, width=64, height=64)
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    on_cpu = generate(load_model("tiny-sd"), spec)
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    model = load_model("tiny-sd")
    on_gpu = generate(model, spec)
    assert on_gpu.fingerprint["device"] == "cuda" and "gpu" in on_gpu.fingerprint
    assert digests_agree(on_cpu.digest, on_gpu.digest, model.manifest.tolerance), lane_distances(
        on_cpu.digest, on_gpu.digest
    )


@needs_cuda
def test_greedy_text_on_the_gpu_gives_the_cpus_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = TextInput(prompt="Hello there", max_new_tokens=12)
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    on_cpu = generate(load_model("tiny-llama"), spec)
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    on_gpu = generate(load_model("tiny-llama"), spec)
    assert on_gpu.fingerprint["device"] == "cuda"
    assert on_gpu.token_ids == on_cpu.token_ids
