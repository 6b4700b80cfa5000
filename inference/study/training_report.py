"""The training study's analysis: the calibrated round tolerance, honest acceptance with and
without synchronisation, drift, and each impostor's detection per round, recomputed from the
stored digests (``inference.study.training``); and the markdown report."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import numpy as np

from inference.digests import Tolerance, lane_distances, parse_digest_hex
from inference.training.digest import ROUND_TOLERANCE

MARGIN = (4, 8, 8, 8)
"""Bits added to the largest honest synchronised distance of the calibration task, per lane."""
TARGETS = {"honest_round_accept": 0.999, "detected": 0.99}
LANES = ("probe pHash", "probe samples", "update signs", "update quantised")


def _index(results: dict[str, Any]) -> dict[tuple[int, str, int], dict[str, bytes]]:
    table: dict[tuple[int, str, int], dict[str, bytes]] = defaultdict(dict)
    for r in results["records"]:
        table[(r["task"], r["mode"], r["round"])][r["member"]] = parse_digest_hex(r["digest"])
    return table


def _roles(results: dict[str, Any]) -> tuple[list[str], list[str]]:
    honest = [m["name"] for m in results["members"] if m["role"] == "honest"]
    impostors = [m["name"] for m in results["members"] if m["role"] == "impostor"]
    return honest, impostors


def calibrate(results: dict[str, Any]) -> Tolerance:
    """Largest honest synchronised distance on the first (calibration) task, plus MARGIN."""
    honest, _ = _roles(results)
    task = results["plan"]["tasks"][0]
    worst = [0, 0, 0, 0]
    for (t, mode, _), digests in _index(results).items():
        if t != task or mode != "sync":
            continue
        for a, b in itertools.combinations(honest, 2):
            worst = [
                max(w, d)
                for w, d in zip(worst, lane_distances(digests[a], digests[b]), strict=True)
            ]
    return Tolerance.of(*(min(64, w + m) for w, m in zip(worst, MARGIN, strict=True)))


def _agree(a: bytes, b: bytes, tolerance: Tolerance) -> bool:
    return all(d <= t for d, t in zip(lane_distances(a, b), tolerance.lanes, strict=True))


def _all_paid(group: list[bytes], tolerance: Tolerance) -> list[bool]:
    """The contract rule on a committee: which members agree with the resolved result."""
    agree = [[_agree(a, b, tolerance) for b in group] for a in group]
    support = [sum(row) for row in agree]
    majority = len(group) // 2 + 1
    if max(support) < majority:
        return [False] * len(group)
    leaders = [i for i, s in enumerate(support) if s == max(support)]
    return [s >= majority or any(agree[i][j] for j in leaders) for i, s in enumerate(support)]


def analyse(results: dict[str, Any], tolerance: Tolerance | None = None) -> dict[str, Any]:
    """Per mode and round on the held-out tasks. With one task nothing is held out: it is judged
    at the shipped ROUND_TOLERANCE (calibrated by the full study) instead."""
    tasks = results["plan"]["tasks"]
    if tolerance is not None:
        chosen, source = tolerance, "given"
    elif len(tasks) > 1:
        chosen, source = calibrate(results), f"calibrated on task {tasks[0]}"
    else:
        chosen, source = ROUND_TOLERANCE, "the shipped ROUND_TOLERANCE (one task, none held out)"
    honest, impostors = _roles(results)
    held_out = tasks[1:] or tasks
    table = _index(results)
    records = results["records"]
    per_round: dict[str, list[dict[str, Any]]] = {mode: [] for mode in ("sync", "no_sync")}
    for mode, rounds in per_round.items():
        for round_index in range(results["plan"]["rounds"]):
            pairs: list[bool] = []
            triples: list[bool] = []
            distances: list[tuple[int, int, int, int]] = []
            detected: dict[str, list[bool]] = {name: [] for name in impostors}
            impostor_min: dict[str, list[int]] = {}
            for task in held_out:
                digests = table[(task, mode, round_index)]
                for a, b in itertools.combinations(honest, 2):
                    distances.append(lane_distances(digests[a], digests[b]))
                    pairs.append(_agree(digests[a], digests[b], chosen))
                for trio in itertools.combinations(honest, 3):
                    triples.append(all(_all_paid([digests[m] for m in trio], chosen)))
                for name in impostors if mode == "sync" else []:
                    for a, b in itertools.combinations(honest, 2):
                        paid = _all_paid([digests[name], digests[a], digests[b]], chosen)
                        detected[name].append(not paid[0])
                    lanes = [lane_distances(digests[name], digests[h]) for h in honest]
                    impostor_min[name] = [int(v) for v in np.min(np.asarray(lanes), axis=0)]
            drift = [
                r["weight_drift"]
                for r in records
                if r["mode"] == mode
                and r["round"] == round_index
                and r["task"] in held_out
                and r["member"] in honest
                and r["member"] != "threads-1"
            ]
            pixels = [
                r["probe_pixels_changed"]
                for r in records
                if r["mode"] == mode
                and r["round"] == round_index
                and r["task"] in held_out
                and r["member"] in honest
                and r["member"] != "threads-1"
            ]
            stacked = np.asarray(distances)
            rounds.append(
                {
                    "round": round_index + 1,
                    "honest_pairs": len(pairs),
                    "honest_pair_accept": float(np.mean(pairs)),
                    "honest_triples": len(triples),
                    "honest_round_accept": float(np.mean(triples)),
                    "honest_max_distance": [int(v) for v in stacked.max(axis=0)],
                    "honest_mean_distance": [round(float(v), 2) for v in stacked.mean(axis=0)],
                    "weight_drift_max": float(max(drift)),
                    "weight_drift_median": float(np.median(drift)),
                    "probe_pixels_changed_max": float(max(pixels)),
                    "detected": {k: float(np.mean(v)) for k, v in detected.items() if v},
                    "committees": {k: len(v) for k, v in detected.items() if v},
                    "impostor_min_distance": impostor_min,
                }
            )
    return {
        "tolerance": list(chosen.lanes),
        "tolerance_source": source,
        "held_out_tasks": held_out,
        "rounds": per_round,
    }


def figures(results: dict[str, Any], analysis: dict[str, Any]) -> dict[str, Any]:
    """The headline figures (worst round) of the bench line."""
    rounds = analysis["rounds"]
    names = list(rounds["sync"][0]["detected"])
    seconds = [
        r["seconds"]
        for r in results["records"]
        if r["mode"] == "sync" and r["member"] == "threads-1"
    ]
    return {
        "rounds": results["plan"]["rounds"],
        "steps_per_round": results["plan"]["steps"],
        "round_seconds": round(float(np.median(seconds)), 2),
        "honest_round_accept": {
            mode: min(r["honest_round_accept"] for r in rounds[mode]) for mode in rounds
        },
        "honest_pair_accept": {
            mode: min(r["honest_pair_accept"] for r in rounds[mode]) for mode in rounds
        },
        "detected": {n: min(r["detected"][n] for r in rounds["sync"]) for n in names},
        "tolerance": analysis["tolerance"],
        "gas_per_round": None,
    }


def _pc(value: float) -> str:
    return f"{100 * value:.1f} %"


def tables(results: dict[str, Any], analysis: dict[str, Any]) -> list[str]:
    """Markdown tables: honest acceptance and drift per round and mode, detection per round."""
    lines = [
        "| mode | round | honest pairs accepted | honest committees of 3 accepted "
        "| max honest distance (lanes 0-3) | weight drift (max) | probe pixels changed (max) |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, rounds in analysis["rounds"].items():
        for r in rounds:
            lines.append(
                f"| {mode} | {r['round']} | {_pc(r['honest_pair_accept'])} of {r['honest_pairs']} "
                f"| {_pc(r['honest_round_accept'])} of {r['honest_triples']} "
                f"| {'/'.join(map(str, r['honest_max_distance']))} "
                f"| {r['weight_drift_max']:.2e} | {r['probe_pixels_changed_max']:.4f} |"
            )
    sync = analysis["rounds"]["sync"]
    names = list(sync[0]["detected"])
    lines += ["", "| impostor | " + " | ".join(f"round {r['round']}" for r in sync) + " |"]
    lines.append("|---|" + "---|" * len(sync))
    for name in names:
        cells = [
            f"{_pc(r['detected'][name])} of {r['committees'][name]} "
            f"(min {'/'.join(map(str, r['impostor_min_distance'][name]))})"
            for r in sync
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _bound(trials: int) -> str:
    """The one-sided 95 % lower bound on a rate with no failure in `trials` (rule of three)."""
    return f"{100 * max(0.0, 1.0 - 3.0 / trials):.1f} %" if trials else "n/a"


def markdown(results: dict[str, Any], analysis: dict[str, Any]) -> str:
    """reports/study/TRAINING.md: setup, digest, calibrated tolerance, the tables, the verdict."""
    plan = results["plan"]
    head = figures(results, analysis)
    sync, no_sync = analysis["rounds"]["sync"], analysis["rounds"]["no_sync"]
    triples = sum(r["honest_triples"] for r in sync)
    failures_sync = sum(round(r["honest_triples"] * (1 - r["honest_round_accept"])) for r in sync)
    committees = sync[0]["committees"]
    members = results["members"]
    lines = [
        "# Training study: verifiable fine-tuning with synchronised rounds (issue 16)",
        "",
        "Generated by `genoracle study training` (inference/study/training.py, "
        "training_report.py); every member's digest and checkpoint sha256 per task, mode and "
        "round is in training-results.json, from which every figure here is recomputed.",
        "",
        "## Setup",
        "",
        f"- Task: fine-tune Digits-Gen (the shipped weights) on {results['data']} "
        f"(sha256 `{results['data_sha256'][:16]}...`), AdamW at a constant learning rate "
        f"{plan['learning_rate']:g}, batch {plan['batch_size']}, {plan['rounds']} rounds of "
        f"{plan['steps']} steps, optimiser state reset each round, one CPU generator per step.",
        f"- Tasks (training seeds): {plan['tasks']}; the first calibrates the tolerance, the "
        f"others ({analysis['held_out_tasks']}) are held out and give every figure below.",
        "- Members: "
        + "; ".join(f"`{m['name']}` ({m['description']})" for m in members if m["role"] == "honest")
        + ".",
        "- Impostors (start from the round's canonical checkpoint): "
        + "; ".join(
            f"`{m['name']}` ({m['description']})" for m in members if m["role"] == "impostor"
        )
        + ".",
        "- Synchronised: each round every member starts from the canonical checkpoint (the "
        "agreeing member with the lowest sha256). Unsynchronised: each honest member continues "
        "from its own checkpoint (round 1 is the same in both modes).",
        f"- Run time {results['seconds']:.0f} s on {results['runtime']['cpu_capability']}, "
        f"torch {results['runtime']['libraries'].get('torch', '?')}; one member's round (train "
        f"+ digest, 1 thread): median {head['round_seconds']} s.",
        *(f"- Note: {note}" for note in results.get("notes", [])),
        f"- The run picked each round's canonical checkpoint with tolerance "
        f"{'/'.join(map(str, results['run_tolerance']))} (the one shipped when it ran).",
        "",
        "## The round digest",
        "",
        "Lanes 0-1: the built-in `phash64+sample192` scheme over a contact sheet of 10 probe "
        f"generations ((class, seed) = (d, 16000 + d), DDIM {results['probes']['steps']}): its "
        "pHash and the first 64 graded sample bits. Lanes 2-3: a sketch of the round's weight "
        "update (end - start): signs of 64 sparse +-1 projections (angle), and a dithered "
        "quantisation of 64 others with step 0.25 x learning rate x sqrt(2048) (size and angle). "
        "The checkpoint's sha256 is committed beside it.",
        "",
        (
            f"Calibrated tolerance (largest honest synchronised distance on task "
            f"{plan['tasks'][0]} plus {'/'.join(map(str, MARGIN))} bits): "
            f"**{'/'.join(map(str, analysis['tolerance']))}** (lanes 0-3), now `ROUND_TOLERANCE` "
            "in inference/training/digest.py."
            if len(plan["tasks"]) > 1
            else f"Tolerance: {'/'.join(map(str, analysis['tolerance']))}, "
            f"{analysis['tolerance_source']}."
        ),
        "",
        "## Honest acceptance and drift per round",
        "",
        "Weight drift: ||w - w_ref|| / ||update of w_ref this round|| against the 1-thread "
        "member; probe pixels changed: the share of 8-bit probe pixels that differ from its.",
        "",
        *tables(results, analysis)[: 2 + len(sync) + len(no_sync)],
        "",
        "## Impostors detected per round (synchronised)",
        "",
        "Detected: the impostor is not paid by the contract rule in a committee with two honest "
        "members (every honest pair counted); in parentheses the smallest per-lane distance to any "
        "honest member.",
        "",
        *tables(results, analysis)[3 + len(sync) + len(no_sync) :],
        "",
        "## Verdict",
        "",
        f"- Synchronised: honest committees of 3 accepted in the worst round: "
        f"{_pc(head['honest_round_accept']['sync'])} ({failures_sync} failures in {triples} "
        f"committees over {len(sync)} rounds; with no failure, the one-sided 95 % lower bound "
        f"per round is {_bound(sync[0]['honest_triples'])} and over all rounds "
        f"{_bound(triples)}, optimistic since the committees share members and tasks). The "
        "99.9 % target cannot be shown with this many committees; it would need about 3000 "
        "independent ones without a failure.",
        f"- Unsynchronised: worst round {_pc(head['honest_round_accept']['no_sync'])}; weight "
        f"drift grows from {no_sync[0]['weight_drift_max']:.2e} (round 1) to "
        f"{no_sync[-1]['weight_drift_max']:.2e} (round {no_sync[-1]['round']}), against "
        f"{max(r['weight_drift_max'] for r in sync):.2e} at most with synchronisation; the "
        f"largest honest distance per lane goes from "
        f"{'/'.join(map(str, no_sync[0]['honest_max_distance']))} to "
        f"{'/'.join(map(str, no_sync[-1]['honest_max_distance']))} (tolerance "
        f"{'/'.join(map(str, analysis['tolerance']))}).",
        "- Impostors, worst round: "
        + ", ".join(
            f"`{name}` {_pc(rate)} of {committees[name]}" for name, rate in head["detected"].items()
        )
        + f" (target {_pc(TARGETS['detected'])}).",
        "- `gas_per_round` is the contract's, not the study's: `make bench-training` measures it "
        "on Anvil (bench/training_gas.py, TrainingTasks, a committee of 3).",
        "",
    ]
    return "\n".join(lines)
