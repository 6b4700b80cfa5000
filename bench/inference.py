"""Inference benchmark: batch pHash, bulk Hamming, the determinism context, generation times,
and the compute budgets' cost models.

Every figure is the median of several runs, and every speed is also given as a ratio against a
baseline measured in the same run (imagehash for hashing, a run without the determinism context
for the context). Prints a table, then one JSON line {"bench": "inference", ...}.

    python -P bench/inference.py [--quick]    (make bench-inference)

``-P`` keeps this file's folder off sys.path: this script is named like the package it measures.

Compute budgets (inference/compute_budget.py): for each built-in model the bench runs a grid of
inputs with one torch thread (the node's default), prices each with the model's cost model and
prints seconds per cost unit. The rates are in CPU seconds of the process (wall seconds are shown
too): on this shared 2-core machine the wall clock measures the other jobs as much as the model.
How the manifests' figures were derived: each built-in model's `*_MEASURED_UNITS_PER_S` constant
is the slowest rate over its grid, rounded down, from a run of this bench on the project's 2-core
machine; `min_units_per_second` (the slowest hardware the manifest claims to support) is that
divided by REFERENCE_SAFETY_FACTOR (4), and `max_units` is MAX_TASK_SECONDS (300 s) at that rate.
The table's `safety` column is today's measured rate over `min_units_per_second`: it should stay
near 4; well below means the constant is stale (or the machine is loaded), and a model whose
rate spreads widely over its grid needs its cost model's coefficients refitted.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # run without -P: the folder would shadow the inference package

import argparse
import json
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import imagehash
import numpy as np
import torch
from PIL import Image

from inference.bulk.batch_phash import phash_bits_batch
from inference.bulk.hamming import count_agreeing
from inference.compute_budget import effective_budget
from inference.determinism import default_threads, deterministic
from inference.digests import Tolerance
from inference.models import builtin_model_names, default_cache
from inference.runners import cost_units, generate
from inference.specs import ImageInput, TextInput, parse_input

TARGET_HAMMING_PER_S = 1e9
TARGET_HAMMING_RATIO = 1000.0
TARGET_PHASH_RATIO = 2.0
TARGET_CONTEXT_RATIO = 1.05


def interleaved_medians(*runs: Callable[[], object], repeats: int) -> list[float]:
    """Median times of calls run in turn, so that load from other processes hits all alike."""
    for run in runs:
        run()
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for run, bucket in zip(runs, times, strict=True):
            started = time.perf_counter()
            run()
            bucket.append(time.perf_counter() - started)
    return [statistics.median(bucket) for bucket in times]


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls (after one warm-up call)."""
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def photo_like_images(count: int, side: int, seed: int = 7) -> list[Image.Image]:
    """Smooth colour fields with a little noise, like generated images."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        small = rng.integers(0, 256, (side // 16, side // 16, 3), dtype=np.uint8)
        base = np.asarray(Image.fromarray(small).resize((side, side), Image.Resampling.BICUBIC))
        noisy = np.clip(base.astype(np.int16) + rng.integers(-6, 7, base.shape), 0, 255)
        images.append(Image.fromarray(noisy.astype(np.uint8)))
    return images


def bench_phash(count: int, repeats: int) -> dict[str, Any]:
    images = photo_like_images(count, 256)
    reference = np.stack([imagehash.phash(image).hash for image in images])
    identical = bool(np.array_equal(phash_bits_batch(images), reference))
    baseline, batch, single = interleaved_medians(
        lambda: [imagehash.phash(image) for image in images],
        lambda: phash_bits_batch(images),
        lambda: phash_bits_batch(images, threads=1),
        repeats=repeats,
    )
    return {
        "phash_images": count,
        "phash_batch_1thread_per_s": count / single,
        "phash_imagehash_per_s": count / baseline,
        "phash_batch_per_s": count / batch,
        "phash_ratio": baseline / batch,
        "phash_identical_bits": identical,
    }


def bench_hamming(rows: int, cols: int, repeats: int) -> dict[str, Any]:
    rng = np.random.default_rng(11)
    a = rng.integers(0, 2**63, rows, dtype=np.uint64)
    b = rng.integers(0, 2**63, cols, dtype=np.uint64)
    tolerance = Tolerance.of(10)
    engine = median_seconds(lambda: count_agreeing(a, b, tolerance, threads=2), repeats)
    pairs = min(20_000, rows, cols)
    hashes_a = [imagehash.hex_to_hash(f"{int(v):016x}") for v in a[:pairs]]
    hashes_b = [imagehash.hex_to_hash(f"{int(v):016x}") for v in b[:pairs]]
    operator = median_seconds(
        lambda: sum(x - y <= 10 for x, y in zip(hashes_a, hashes_b, strict=True)), repeats
    )
    engine_rate = rows * cols / engine
    operator_rate = pairs / operator
    return {
        "hamming_pairs": rows * cols,
        "hamming_pairs_per_s": engine_rate,
        "hamming_imagehash_pairs_per_s": operator_rate,
        "hamming_ratio": engine_rate / operator_rate,
    }


@contextmanager
def plain(threads: int) -> Iterator[None]:
    """The same thread count and no-grad mode, without the determinism switches."""
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            yield
    finally:
        torch.set_num_threads(saved)


def bench_context(repeats: int) -> dict[str, Any]:
    """Generation time inside vs outside the determinism context, interleaved."""
    model = default_cache().get("tiny-sd")
    backend = model.image_backend
    spec = ImageInput(prompt="a lighthouse", seed=3, steps=10, width=128, height=128)
    threads = default_threads()

    def run_plain() -> None:
        with plain(threads):
            backend.generate_images([spec], [3])

    def run_deterministic() -> None:
        with deterministic(threads):
            backend.generate_images([spec], [3])

    without, with_context = interleaved_medians(run_plain, run_deterministic, repeats=repeats)
    return {
        "context_seconds": with_context,
        "plain_seconds": without,
        "context_ratio": with_context / without,
    }


def bench_generation(repeats: int) -> dict[str, Any]:
    sd = default_cache().get("tiny-sd")
    small = ImageInput(prompt="a red fox", seed=1, steps=10, width=64, height=64)
    large = ImageInput(prompt="a red fox", seed=1, steps=20, width=256, height=256)
    llm = default_cache().get("smollm2-135m")
    question = TextInput(prompt="The three primary colours are", max_new_tokens=32)
    tokens = len(generate(llm, question).token_ids or [])
    return {
        "tiny_sd_64px_10steps_s": median_seconds(lambda: generate(sd, small), repeats),
        "tiny_sd_256px_20steps_s": median_seconds(lambda: generate(sd, large), repeats),
        "smollm2_tokens": tokens,
        "smollm2_32tok_s": median_seconds(lambda: generate(llm, question), max(1, repeats // 2)),
    }


#: The deployment default (deploy/deployer.py OracleConfig.commit_window) and a one-minute window.
BUDGET_WINDOWS_S = (60, 300)

_STORY = "Once upon a time, in a harbour town by the sea, there lived an old lighthouse keeper"
_LONG_PROMPT = " ".join(["The tide came in and the tide went out again."] * 40)

#: Inputs per model: (input, in the --quick grid too). Sizes and lengths span what a budget
#: allows; tiny-llama and SmolLM2 continue a story, so they rarely stop before max_new_tokens.
COST_GRIDS: dict[str, list[tuple[dict[str, Any], bool]]] = {
    "tiny-sd": [
        ({"prompt": "a fox", "width": 64, "height": 64, "steps": 4}, True),
        ({"prompt": "a fox", "width": 64, "height": 64, "steps": 32}, False),
        ({"prompt": "a fox", "width": 128, "height": 128, "steps": 16}, True),
        ({"prompt": "a fox", "width": 256, "height": 256, "steps": 4}, False),
        ({"prompt": "a fox", "width": 256, "height": 256, "steps": 16}, True),
        ({"prompt": "a fox", "width": 256, "height": 256, "steps": 40, "guidance": 1.0}, False),
        ({"prompt": "a fox", "width": 512, "height": 512, "steps": 4}, True),
        ({"prompt": "a fox", "width": 512, "height": 256, "steps": 8}, False),
        ({"prompt": "a fox", "width": 768, "height": 768, "steps": 2}, False),
    ],
    "tiny-llama": [
        ({"prompt": _STORY, "max_new_tokens": 16}, True),
        ({"prompt": _STORY, "max_new_tokens": 64}, True),
        ({"prompt": _STORY, "max_new_tokens": 256}, True),
        ({"prompt": _LONG_PROMPT, "max_new_tokens": 16}, False),
        ({"prompt": _STORY, "max_new_tokens": 64, "num_beams": 4}, False),
    ],
    "smollm2-135m": [
        ({"prompt": _STORY, "max_new_tokens": 16}, True),
        ({"prompt": _STORY, "max_new_tokens": 64}, True),
        ({"prompt": _STORY, "max_new_tokens": 256}, False),
        ({"prompt": _LONG_PROMPT, "max_new_tokens": 16}, False),
        ({"prompt": _STORY, "max_new_tokens": 32, "num_beams": 4}, False),
    ],
    "digits": [
        ({"prompt": "a digit 3", "width": 64, "height": 64, "steps": 10, "guidance": 0.0}, True),
        ({"prompt": "a digit 3", "width": 64, "height": 64, "steps": 50, "guidance": 0.0}, True),
        ({"prompt": "a digit 3", "width": 64, "height": 64, "steps": 150, "guidance": 0.0}, False),
    ],
}


def _ran_units(model: Any, spec: ImageInput | TextInput, generated: int | None) -> int:
    """The units of what actually ran: a completion that stopped early is priced at the tokens
    it generated (the budget charges max_new_tokens, the worst case)."""
    if isinstance(spec, TextInput) and generated is not None:
        spec = spec.model_copy(update={"max_new_tokens": max(1, generated)})
    units = cost_units(model, spec)
    assert units is not None
    return units


def bench_cost_model(quick: bool) -> tuple[dict[str, Any], list[tuple[str, ...]]]:
    """Seconds per cost unit over each built-in model's grid, one torch thread."""
    results: dict[str, dict[str, Any]] = {
        key: {}
        for key in (
            "cost_units_per_s",
            "cost_units_per_s_wall",
            "cost_rate_spread",
            "cost_min_units_per_s",
            "cost_safety",
            "cost_budget_units",
            "cost_budget_worst_s",
            "cost_budget_here_s",
        )
    }
    rows: list[tuple[str, ...]] = []
    for name, grid in COST_GRIDS.items():
        if name not in builtin_model_names():
            continue
        model = default_cache().get(name)
        budget = model.manifest.compute_budget
        assert budget is not None, f"{name} has no compute budget"
        cpu_rates, wall_rates = [], []
        warmed = False
        for raw, in_quick in grid:
            if quick and not in_quick:
                continue
            spec = parse_input(model.kind, json.dumps(raw), model.manifest.defaults)
            if not warmed:
                generate(model, spec, threads=1)
                warmed = True
            runs = []
            for _ in range(1 if quick else 2):
                cpu, wall = time.process_time(), time.perf_counter()
                result = generate(model, spec, threads=1)
                runs.append((time.process_time() - cpu, time.perf_counter() - wall))
            cpu_s = statistics.median(r[0] for r in runs)
            wall_s = statistics.median(r[1] for r in runs)
            generated = len(result.token_ids) if result.token_ids is not None else None
            units = _ran_units(model, spec, generated)
            cpu_rates.append(units / cpu_s)
            wall_rates.append(units / wall_s)
            shape = " ".join(f"{k}={v}" for k, v in raw.items() if k != "prompt")
            if isinstance(spec, TextInput):
                prompt = len(model.text_backend.prompt_ids(spec))
                shape = f"prompt={prompt} tok " + shape
                if generated is not None and generated < spec.max_new_tokens:
                    shape += f" (stopped at {generated})"
            rows.append(
                (
                    name,
                    shape,
                    f"{units:,}",
                    f"{cpu_s:.3f}",
                    f"{wall_s:.3f}",
                    f"{units / cpu_s:,.0f}",
                    f"{cpu_s / units * 1e6:.2f}",
                )
            )
        measured = min(cpu_rates)
        results["cost_units_per_s"][name] = round(measured, 1)
        results["cost_units_per_s_wall"][name] = round(min(wall_rates), 1)
        results["cost_rate_spread"][name] = round(max(cpu_rates) / measured, 2)
        results["cost_min_units_per_s"][name] = budget.min_units_per_second
        results["cost_safety"][name] = round(measured / budget.min_units_per_second, 2)
        for window in BUDGET_WINDOWS_S:
            units_at = effective_budget(budget, window)
            results["cost_budget_units"].setdefault(name, {})[window] = units_at
            worst = units_at / budget.min_units_per_second
            results["cost_budget_worst_s"].setdefault(name, {})[window] = round(worst, 1)
            results["cost_budget_here_s"].setdefault(name, {})[window] = round(
                units_at / measured, 1
            )
    results_flat: dict[str, Any] = {"cost_commit_windows_s": list(BUDGET_WINDOWS_S), **results}
    return results_flat, rows


def print_cost_table(results: dict[str, Any], rows: list[tuple[str, ...]]) -> None:
    print()
    print("compute budgets: cost units vs seconds (one torch thread; rates in CPU seconds)")
    header = ("model", "input", "units", "cpu s", "wall s", "units/s", "us/unit")
    widths = (13, 58, 11, 8, 8, 10, 8)
    print(" ".join(f"{h:<{w}}" for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print(" ".join(f"{c:<{w}}" for c, w in zip(row, widths, strict=True)))
    print()
    windows = results["cost_commit_windows_s"]
    print(
        f"{'model':<13} {'measured/s':>11} {'spread':>7} {'manifest min/s':>15} {'safety':>7}  "
        + "  ".join(f"budget@{w}s: units, s slowest, s here" for w in windows)
    )
    for name, measured in results["cost_units_per_s"].items():
        cells = [
            f"{results['cost_budget_units'][name][w]:,}, "
            f"{results['cost_budget_worst_s'][name][w]:.0f} s, "
            f"{results['cost_budget_here_s'][name][w]:.1f} s"
            for w in windows
        ]
        print(
            f"{name:<13} {measured:>11,.0f} {results['cost_rate_spread'][name]:>6.2f}x "
            f"{results['cost_min_units_per_s'][name]:>15,} {results['cost_safety'][name]:>6.2f}x  "
            + "  ".join(f"{c:<34}" for c in cells)
        )
    print(
        "spread: fastest/slowest rate over the grid (how well units track seconds); "
        "s slowest: budget / manifest rate (<= window/2 by construction); s here: budget / "
        "measured rate"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer images, pairs and runs")
    args = parser.parse_args()
    repeats = 3 if args.quick else 5
    results: dict[str, Any] = {"bench": "inference", "torch_threads": default_threads()}
    results.update(bench_phash(300 if args.quick else 1000, repeats))
    results.update(bench_hamming(10_000 if args.quick else 20_000, 100_000, repeats))
    results.update(bench_context(5 if args.quick else 9))
    results.update(bench_generation(3 if args.quick else 5))
    cost_results, cost_rows = bench_cost_model(args.quick)
    results.update(cost_results)
    results["targets_met"] = {
        "hamming_1e9_per_s": results["hamming_pairs_per_s"] >= TARGET_HAMMING_PER_S,
        "hamming_1000x_imagehash": results["hamming_ratio"] >= TARGET_HAMMING_RATIO,
        "phash_2x_imagehash": results["phash_ratio"] >= TARGET_PHASH_RATIO
        and results["phash_identical_bits"],
        "context_le_1.05x": results["context_ratio"] <= TARGET_CONTEXT_RATIO,
    }

    rows = [
        ("batch pHash", f"{results['phash_batch_per_s']:,.0f} img/s",
         f"imagehash {results['phash_imagehash_per_s']:,.0f} img/s",
         f"{results['phash_ratio']:.2f}x (target >= 2x, bits identical: "
         f"{results['phash_identical_bits']})"),
        ("batch pHash, 1 thread", f"{results['phash_batch_1thread_per_s']:,.0f} img/s", "",
         f"{results['phash_batch_1thread_per_s'] / results['phash_imagehash_per_s']:.2f}x"),
        ("Hamming engine", f"{results['hamming_pairs_per_s'] / 1e9:.2f} G pairs/s",
         f"ImageHash '-' {results['hamming_imagehash_pairs_per_s'] / 1e6:.2f} M pairs/s",
         f"{results['hamming_ratio']:,.0f}x (target >= 1e9/s and >= 1000x)"),
        ("determinism ctx", f"{results['context_seconds'] * 1e3:.1f} ms",
         f"plain {results['plain_seconds'] * 1e3:.1f} ms",
         f"{results['context_ratio']:.3f}x (target <= 1.05x)"),
        ("tiny-sd 64px 10 steps", f"{results['tiny_sd_64px_10steps_s']:.3f} s", "", ""),
        ("tiny-sd 256px 20 steps", f"{results['tiny_sd_256px_20steps_s']:.3f} s", "", ""),
        ("SmolLM2 greedy", f"{results['smollm2_32tok_s']:.2f} s",
         f"{results['smollm2_tokens']} tokens",
         f"{results['smollm2_tokens'] / results['smollm2_32tok_s']:.1f} tok/s"),
    ]  # fmt: skip
    print(f"{'measure':<24} {'value':<20} {'baseline':<32} ratio")
    for name, value, baseline, ratio in rows:
        print(f"{name:<24} {value:<20} {baseline:<32} {ratio}")
    print_cost_table(results, cost_rows)
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
