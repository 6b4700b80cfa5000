"""bench/gpu_noise.py runs only on a CUDA machine; what can be checked without one is here."""

from __future__ import annotations

import math

import pytest
import torch

from bench.gpu_noise import equivalent_noise, main

CURVE = {1e-4: 2.0, 1e-3: 8.0, 3e-3: 20.0}


def test_a_distance_reads_as_a_noise_level_on_the_curve() -> None:
    assert equivalent_noise(0.0, CURVE) == 0.0
    assert equivalent_noise(8.0, CURVE) == pytest.approx(1e-3)
    between = equivalent_noise(14.0, CURVE)
    assert 1e-3 < between < 3e-3
    assert math.isclose(math.log(between), (math.log(1e-3) + math.log(3e-3)) / 2, rel_tol=1e-9)
    assert equivalent_noise(40.0, CURVE) == math.inf


def test_the_script_refuses_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["gpu_noise.py", "--device", "cpu"])
    with pytest.raises(SystemExit, match="CUDA device"):
        main()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_a_gpu_the_script_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    from inference.errors import DeviceError

    monkeypatch.setattr("sys.argv", ["gpu_noise.py", "--device", "cuda"])
    with pytest.raises(DeviceError, match="sees no CUDA GPU"):
        main()
