"""Accuracy benchmark: honest acceptance and impostor detection per model and noise level.

By default every figure is recomputed from the per-sample digests the noise study stored in
reports/study/noise/ (no generation: anyone can check the report's numbers in seconds). With
``--quick`` a small fresh grid is generated into a temporary store first (a few minutes), under
the same conditions, and analysed the same way. Prints a table, then one JSON line
{"bench": "accuracy", ...} with, per model and noise level, honest_pair_accept,
honest_majority3_accept and each impostor's detection, and per model the boundary_noise; from
the stored digests also "input_rule": per model with one (inference/tolerances.json), each of
its settings (scheduler, guidance, size, steps) judged held out at the tolerance its inputs need.

    python -m bench.accuracy [--quick] [--design NAME]      (make bench-accuracy)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from inference.digests import Tolerance
from inference.study.accuracy import TARGETS, analyse_digests, candidate_designs, digest_setting
from inference.study.calibration import setting_model
from inference.study.input_calibration import is_plain_setting, judge_rule, read_corner
from inference.study.noise import TARGET_NOISE, run_noise_study
from inference.tolerances import TOLERANCES_FILE, calibrated_input_tolerance

STORED = Path("reports/study/noise")
QUICK_SETTINGS = {"digits": "digits", "tiny-sd": "tiny-sd-64px-10steps"}


def quick(classes: list[int], seeds: list[int], design: str, folder: Path) -> dict[str, Path]:
    """Generate a small grid of every condition for both models and digest it."""
    designs = [d for d in candidate_designs() if d.name == design]
    out = {}
    for model, setting in QUICK_SETTINGS.items():
        samples = run_noise_study(folder, model, classes, seeds)
        out[setting] = digest_setting(samples, folder / f"{setting}-digests.npz", designs)
    return out


def figures(results: dict[str, dict[str, Any]], design: str) -> dict[str, Any]:
    models: dict[str, Any] = {}
    for setting, result in results.items():
        entry = result["designs"][design]
        per_noise = {
            eps: {
                "tolerance": f["tolerance"],
                "honest_pair_accept": f["honest_pair_accept"],
                "honest_majority3_accept": f["honest_majority3_accept"],
                "honest_pairs": f["honest_pairs"],
                "honest_triples": f["honest_triples"],
                "detected": f["detected"],
                "meets_targets": f["meets_targets"],
            }
            for eps, f in entry["noise"].items()
        }
        models[setting] = {
            "model": setting_model(setting),
            "cells": result["cells"],
            "noise": per_noise,
            "boundary_noise": entry["boundary_noise"],
            "boundary_by_impostor": entry["boundary_by_impostor"],
        }
    return models


def input_rule_figures(files: dict[str, Path], design: str) -> dict[str, Any]:
    """Each model's corners at the tolerance its input rule asks of them, held out, printed."""
    table = json.loads(TOLERANCES_FILE.read_text())
    figures_by_model: dict[str, Any] = {}
    for model in ("tiny-sd", "digits"):
        rule = calibrated_input_tolerance(model)
        if rule is None:
            continue
        default = Tolerance.of(*table[model]["default_tolerance"])
        corners = sorted(s for s in files if setting_model(s) == model and read_corner(s))
        judged = judge_rule(STORED, corners, rule, default.lanes, design)
        print(f"{model} input rule, held out: setting | needs | noise | pair | maj-of-3 | detected")
        for setting, entry in judged.items():
            for eps, f in entry["noise"].items():
                detected = ", ".join(
                    f"{k} {100 * v:.1f}%" for k, v in sorted(f["detected"].items())
                )
                print(
                    f"{setting} | {'/'.join(map(str, entry['tolerance']))} | {eps} | "
                    f"{100 * f['honest_pair_accept']:.2f}% ({f['honest_pairs']}) | "
                    f"{100 * f['honest_majority3_accept']:.2f}% | {detected}"
                )
        figures_by_model[model] = judged
    return figures_by_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="generate a small grid first")
    parser.add_argument("--design", default=None, help="design (default: the study's choice)")
    parser.add_argument("--seeds", type=int, default=4, help="--quick: seeds 1..N per class")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    recorded = STORED / "results.json"
    design = args.design or (
        json.loads(recorded.read_text())["chosen"] if recorded.is_file() else "sample-k2"
    )
    with tempfile.TemporaryDirectory() as temporary:
        if args.quick:
            files = quick(list(range(10)), list(range(1, args.seeds + 1)), design, Path(temporary))
            source = f"fresh grid, 10 classes x {args.seeds} seeds"
        else:
            files = {p.name.removesuffix("-digests.npz"): p for p in sorted(STORED.glob("*.npz"))}
            source = f"stored per-sample digests in {STORED}"
        if not files:
            raise SystemExit(f"no digests under {STORED}: run `make study-noise` or use --quick")
        results = {setting: analyse_digests(path) for setting, path in files.items()}
    models = figures(results, design)
    rule = {} if args.quick else input_rule_figures(files, design)
    impostors = sorted(
        {k for m in models.values() for f in m["noise"].values() for k in f["detected"]}
    )
    print(f"accuracy of {design} ({source}); held-out seeds, tolerance chosen on odd seeds")
    header = ["setting", "noise", "tolerance", "pair", "maj-of-3", *impostors]
    print(" | ".join(header))
    for setting, model in models.items():
        for eps, f in model["noise"].items():
            row = [
                setting,
                eps,
                "/".join(map(str, f["tolerance"])),
                f"{100 * f['honest_pair_accept']:.2f}%",
                f"{100 * f['honest_majority3_accept']:.2f}%",
                *(
                    f"{100 * f['detected'][k]:.1f}%" if k in f["detected"] else "-"
                    for k in impostors
                ),
            ]
            print(" | ".join(row))
        print(f"{setting}: boundary_noise {model['boundary_noise']:g}")
    # The settings that ran the impostors speak for their model; the others check its floor.
    judged = {
        m["model"]: s
        for s, m in models.items()
        if is_plain_setting(s)
        and any(k != "other-seed" for f in m["noise"].values() for k in f["detected"])
    }
    met = {
        model: bool(models[s]["noise"].get(f"{TARGET_NOISE:g}", {}).get("meets_targets"))
        for model, s in judged.items()
    }
    record = {
        "bench": "accuracy",
        "design": design,
        "source": source,
        "targets": TARGETS,
        "target_noise": TARGET_NOISE,
        "models": models,
        "by_model": judged,
        "targets_met_at_target_noise": met,
        "input_rule": rule,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(record, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
