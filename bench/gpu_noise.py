"""CPU against GPU, fp32 against fp16: how far real hardware moves a digest, on the noise curve.

Run on a machine with a CUDA GPU (this project's machines have none):

    python -P bench/gpu_noise.py [--cells 40] [--device cuda]      (make bench-gpu)

For Digits-Gen and tiny-sd (64 px, 10 steps), the same class and seed cells are generated on
the CPU in float32 (the reference), on the GPU in float32 (the determinism settings of a node:
deterministic algorithms, cuDNN deterministic without benchmarking, no TF32, the cuBLAS
workspace, CPU generators) and on the GPU under float16 autocast. Each image is digested under
the model's scheme; the per-lane distances of CPU-vs-GPU and of GPU fp32-vs-fp16 pairs are then
placed on the study's noise curve: the same cells are generated on the GPU with relative noise
1e-4, 1e-3 and 3e-3 in the denoiser's output at every step (two replicas each), and a measured
distance reads as the noise level whose honest pairs lie that far apart (the graded lanes' mean,
interpolated in log noise). Whether each pair agrees at the model's default tolerance is printed
too. Prints a table, then one JSON line {"bench": "gpu-noise", ...}.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # run without -P: the folder would shadow the inference package

import argparse
import itertools
import json
import math
from typing import Any

import numpy as np
import torch

from inference.determinism import check_device, deterministic, runtime_fingerprint
from inference.digests import digest_image, lane_values
from inference.models import load_model
from inference.study.designs import sample_image
from inference.study.noise import REFERENCE, Condition, NoiseDriver, open_noise_driver

LEVELS = (1e-4, 1e-3, 3e-3)
GRADED = (1, 2, 3)


def _digests(images: np.ndarray, scheme: str) -> np.ndarray:
    return np.asarray(
        [lane_values(digest_image(sample_image(p), scheme)) for p in images], dtype=np.uint64
    )


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(np.bitwise_count(a ^ b), dtype=np.int64)


def _run(
    driver: NoiseDriver, condition: Condition, cells: list[tuple[int, int]], device: str
) -> np.ndarray:
    with deterministic(1, device):
        return driver.generate(condition, [c for c, _ in cells], [s for _, s in cells])


def equivalent_noise(mean_distance: float, curve: dict[float, float]) -> float:
    """The noise level whose honest pairs are `mean_distance` apart (log-linear interpolation;
    0 below the curve's first point, inf above its last)."""
    points = sorted(curve.items())
    if mean_distance <= points[0][1]:
        return 0.0 if mean_distance == 0 else points[0][0] * mean_distance / max(points[0][1], 1e-9)
    for (e0, d0), (e1, d1) in itertools.pairwise(points):
        if d0 <= mean_distance <= d1 and d1 > d0:
            t = (mean_distance - d0) / (d1 - d0)
            return float(math.exp(math.log(e0) + t * (math.log(e1) - math.log(e0))))
    return math.inf


def measure(model: str, cells: list[tuple[int, int]], device: str) -> dict[str, Any]:
    loaded = load_model("digits" if model == "digits" else "tiny-sd")
    scheme, tolerance = loaded.manifest.digest_scheme, np.asarray(loaded.manifest.default_tolerance)
    cpu = open_noise_driver(model, device="cpu")
    gpu = open_noise_driver(model, device=device)
    reference = _digests(_run(cpu, REFERENCE, cells, "cpu"), scheme)
    gpu32 = _digests(_run(gpu, REFERENCE, cells, device), scheme)
    gpu16 = _digests(
        _run(gpu, Condition("fp16", "honest", "float16 autocast", dtype="float16"), cells, device),
        scheme,
    )
    curve: dict[float, float] = {}
    for eps in LEVELS:
        a, b = (
            _digests(
                _run(
                    gpu, Condition(f"n{eps}-{r}", "honest", "", noise=eps, replica=r), cells, device
                ),
                scheme,
            )
            for r in (0, 1)
        )
        curve[eps] = float(_distances(a, b)[:, list(GRADED)].mean())
    pairs = {"cpu-vs-gpu fp32": (reference, gpu32), "gpu fp32-vs-fp16": (gpu32, gpu16)}
    out: dict[str, Any] = {"scheme": scheme, "tolerance": tolerance.tolist(), "curve": curve}
    for name, (a, b) in pairs.items():
        d = _distances(a, b)
        mean = float(d[:, list(GRADED)].mean())
        out[name] = {
            "mean_lane_distance": d.mean(axis=0).round(2).tolist(),
            "max_lane_distance": d.max(axis=0).tolist(),
            "identical": float((d.sum(axis=1) == 0).mean()),
            "agree_at_default": float(np.all(d <= tolerance, axis=1).mean()),
            "equivalent_noise": equivalent_noise(mean, curve),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=40, help="class x seed cells per model")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    device = check_device(args.device)
    if device == "cpu":
        raise SystemExit("give a CUDA device: the CPU is the reference")
    cells = [(i % 10, 1 + i // 10) for i in range(args.cells)]
    results = {model: measure(model, cells, device) for model in ("digits", "tiny-sd")}
    header = ("model", 8), ("pair", 18), ("mean lanes", 28), ("max lanes", 18)
    print(" ".join(f"{h:<{w}}" for h, w in header), f"{'same':>6} {'agree':>6} {'~noise':>8}")
    for model, result in results.items():
        for pair in ("cpu-vs-gpu fp32", "gpu fp32-vs-fp16"):
            r = result[pair]
            print(
                f"{model:<8} {pair:<18} {r['mean_lane_distance']!s:<28} "
                f"{r['max_lane_distance']!s:<18} {r['identical']:>6.1%} "
                f"{r['agree_at_default']:>6.1%} {r['equivalent_noise']:>8.1e}"
            )
    record = {
        "bench": "gpu-noise",
        "cells": args.cells,
        "fingerprint": runtime_fingerprint(1, 1, device),
        "torch": torch.__version__,
        **results,
    }
    print(json.dumps(record, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
