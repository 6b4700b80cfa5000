"""`make bench`: run every benchmark, then print one combined table of the headline figures.

Each benchmark runs as its own process (so none warms another's caches) and prints its own table
and a JSON line `{"bench": NAME, ...}`; this script streams their output, keeps the JSON lines,
and ends with one table and one JSON line `{"bench": "all", ...}` holding every benchmark's line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

BENCHMARKS: dict[str, list[str]] = {
    "gas": [sys.executable, "-m", "bench.gas"],
    "inference": [sys.executable, "-P", "bench/inference.py"],
    "e2e": [sys.executable, "-m", "bench.e2e"],
    "accuracy": [sys.executable, "-m", "bench.accuracy"],
    "audit": [sys.executable, "-m", "bench.audit"],
    "training": [sys.executable, "-m", "bench.training"],
}

Figure = tuple[str, Callable[[dict[str, Any]], str], str, Callable[[dict[str, Any]], bool | None]]

ACCURACY_SETTINGS = ("digits", "tiny-sd-64px-10steps")


def _weakest_audit(r: dict[str, Any]) -> tuple[str, float]:
    """The least-detected whole-model impostor of the audit benchmark (faked fractions aside:
    their detection is set by the challenge size, 1-(1-f)^k)."""
    rows = [
        (f"{model} {name}", float(value))
        for model, detected in r["detection"].items()
        for name, value in detected.items()
        if not name.startswith("faked-") and value is not None and value == value
    ]
    return min(rows, key=lambda row: row[1])


def _accuracy_figures(setting: str) -> list[Figure]:
    """Honest acceptance and the weakest detection of one noise-study setting at noise 1e-3."""

    def at(r: dict[str, Any]) -> dict[str, Any]:
        figures: dict[str, Any] = r["models"][setting]["noise"]["0.001"]
        return figures

    def weakest(r: dict[str, Any]) -> tuple[str, float]:
        name, value = min(at(r)["detected"].items(), key=lambda kv: float(kv[1]))
        return str(name), float(value)

    return [
        (
            f"{setting}: honest maj-of-3 / pair, noise 1e-3",
            lambda r: (
                f"{100 * at(r)['honest_majority3_accept']:.2f}% / "
                f"{100 * at(r)['honest_pair_accept']:.2f}%"
            ),
            ">= 99.99/99.9%",
            lambda r: (
                at(r)["honest_majority3_accept"] >= 0.9999 and at(r)["honest_pair_accept"] >= 0.999
            ),
        ),
        (
            f"{setting}: weakest impostor detected, noise 1e-3",
            lambda r: f"{100 * weakest(r)[1]:.1f}% ({weakest(r)[0]})",
            ">= 99%",
            lambda r: weakest(r)[1] >= 0.99,
        ),
    ]


#: (what, value as text, target as text, target met; None: a figure without a target) per
#: benchmark.
HEADLINES: dict[str, list[Figure]] = {
    "gas": [
        (
            "gas, 3-member task, aggregated reveal",
            lambda r: f"{r['total_3_member_task']:,}",
            "<= 400,000",
            lambda r: r["total_3_member_task"] <= 400_000,
        ),
        (
            "request gas, 1000 vs 10 operators",
            lambda r: f"{r['request_ratio_max_vs_min']:.3f}x",
            "<= 1.5x",
            lambda r: r["request_ratio_max_vs_min"] <= 1.5,
        ),
    ],
    "inference": [
        (
            "batch pHash vs imagehash.phash (identical bits)",
            lambda r: f"{r['phash_ratio']:.2f}x",
            ">= 2x",
            lambda r: r["phash_ratio"] >= 2 and r["phash_identical_bits"],
        ),
        (
            "Hamming comparisons per second",
            lambda r: f"{r['hamming_pairs_per_s']:.3g}",
            ">= 1e9",
            lambda r: r["hamming_pairs_per_s"] >= 1e9,
        ),
        (
            "Hamming engine vs ImageHash '-'",
            lambda r: f"{r['hamming_ratio']:,.0f}x",
            ">= 1000x",
            lambda r: r["hamming_ratio"] >= 1000,
        ),
        (
            "determinism context cost",
            lambda r: f"{r['context_ratio']:.3f}x",
            "<= 1.05x",
            lambda r: r["context_ratio"] <= 1.05,
        ),
    ],
    "e2e": [
        (
            "chain overhead per task (median)",
            lambda r: f"{r['overhead_median_s']:.3f} s",
            "<= 1.0 s",
            lambda r: r["overhead_median_s"] <= 1.0,
        ),
        (
            "tasks/min, 5 nodes, 100+ tasks back to back",
            lambda r: f"{r['tasks_per_min']:.1f}",
            "-",
            lambda r: None,
        ),
        (
            "throughput / inference-only ceiling (pairs' median)",
            lambda r: f"{r['throughput_ratio']:.2f}" + (" BROKEN" if r["measure_broken"] else ""),
            ">= 0.8",
            lambda r: r["throughput_ratio"] >= 0.8 and not r["measure_broken"],
        ),
        (
            "votes revealed in a multi-opening revealBatch",
            lambda r: f"{r['batched_reveal_fraction']:.3f}",
            ">= 0.95",
            lambda r: r["batched_reveal_fraction"] >= 0.95,
        ),
    ],
    "accuracy": [fig for setting in ACCURACY_SETTINGS for fig in _accuracy_figures(setting)],
    "audit": [
        *(
            (
                f"audited {name}: (executor + 2 auditors) / unverified",
                lambda r, name=name: f"{r['verified_cost_ratio'][name]:.3f}x",
                "<= 1.25x",
                lambda r, name=name: r["verified_cost_ratio"][name] <= 1.25,
            )
            for name in ("tiny-sd-64px-20steps", "smollm2-135m-32tokens")
        ),
        (
            "audited: weakest whole-model impostor detected",
            lambda r: "{1:.1%} ({0})".format(*_weakest_audit(r)),
            ">= 99%",
            lambda r: _weakest_audit(r)[1] >= 0.99,
        ),
        (
            "audited: weakest honest acceptance",
            lambda r: f"{min(r['honest_accept'].values()):.2%}",
            ">= 99.9%",
            lambda r: min(r["honest_accept"].values()) >= 0.999,
        ),
    ],
    "training": [
        (
            "training: honest committees accepted, sync / no sync",
            lambda r: (
                f"{r['honest_round_accept']['sync']:.1%} / "
                f"{r['honest_round_accept']['no_sync']:.1%}"
            ),
            ">= 99.9%",
            lambda r: r["honest_round_accept"]["sync"] >= 0.999,
        ),
        (
            "training: weakest impostor detected per round",
            lambda r: "{1:.1%} ({0})".format(*min(r["detected"].items(), key=lambda kv: kv[1])),
            ">= 99%",
            lambda r: min(r["detected"].values()) >= 0.99,
        ),
    ],
}


def run_benchmark(name: str) -> tuple[dict[str, Any] | None, float]:
    """Run one benchmark, echoing its output; return its JSON line and wall time."""
    print(f"\n==== bench {name}: {' '.join(BENCHMARKS[name][1:])}", flush=True)
    start = time.perf_counter()
    process = subprocess.Popen(BENCHMARKS[name], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    found: dict[str, Any] | None = None
    for line in process.stdout:
        print(line, end="", flush=True)
        if line.startswith('{"bench"'):
            found = json.loads(line)
    process.wait()
    if process.returncode != 0:
        print(f"bench {name} exited with {process.returncode}", file=sys.stderr)
    return found, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("names", nargs="*", help=f"some of {', '.join(BENCHMARKS)} (default: all)")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(
            f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}"
        )
    results: dict[str, dict[str, Any] | None] = {}
    seconds: dict[str, float] = {}
    for name in names:
        results[name], seconds[name] = run_benchmark(name)

    print("\n==== all benchmarks")
    print(f"{'bench':10} {'figure':50} {'value':>14} {'target':>11}  met")
    all_met = True
    for name in names:
        result = results[name]
        if result is None:
            print(f"{name:10} {'(no result: the benchmark failed)':50}")
            all_met = False
            continue
        for what, value, target, met in HEADLINES[name]:
            ok = met(result)
            all_met &= ok is not False
            shown = "-" if ok is None else "yes" if ok else "NO"
            print(f"{name:10} {what:50} {value(result):>14} {target:>11}  {shown}")
    print(
        json.dumps(
            {
                "bench": "all",
                "targets_met": all_met,
                "results": results,
                "seconds": {k: round(v, 1) for k, v in seconds.items()},
            }
        )
    )
    return 0 if all(r is not None for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
