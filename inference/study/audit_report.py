"""The audit study's results as the benchmark's JSON figures and as printed tables."""

from __future__ import annotations

from typing import Any

from inference.study.audit import DEFAULT_CHALLENGE, TARGETS
from inference.study.audit_chain import CHAIN_CHALLENGE
from inference.study.audit_steps import (
    CALIBRATION_NOISE,
    CHALLENGE_SIZES,
    FAKED_FRACTIONS,
    IMAGE_CALIBRATION_NOISE,
    IMAGE_NOISE_LEVELS,
    NOISE_LEVELS,
    OTHER_IMAGE_CONDITIONS,
    TEXT_IMPOSTORS,
    TOLERANCE_SLACK,
    WHOLE_IMAGE_IMPOSTORS,
    faked_name,
    honest_name,
)


def _chain_entry(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The chosen design's figures under the chain's comparison, if the results have them."""
    chain = entry.get("chain")
    if not chain:
        return None
    return {"design": chain["design"], **chain["candidates"][chain["design"]]}


def figures(results: dict[str, Any]) -> dict[str, Any]:
    """The benchmark's JSON fields from a study's results. ``honest_accept`` and ``detection``
    are the chain's figures (one challenged leaf compared on its sketch's 4 lanes, one lane
    tolerance T per model; detection: the executor outvoted by 2 agreeing auditors) where the
    results have them, else (results made before) the 256-bit figures at DEFAULT_CHALLENGE."""
    k = str(DEFAULT_CHALLENGE)
    calibrated = honest_name(IMAGE_CALIBRATION_NOISE)
    detection: dict[str, Any] = {}
    honest: dict[str, Any] = {}
    resolved: dict[str, Any] = {}
    lane: dict[str, Any] = {}
    for name, entry in results["diffusion"].items():
        chain = _chain_entry(entry)
        if chain is not None:
            detection[name] = {
                c: chain["detection"][c]
                for c in (*WHOLE_IMAGE_IMPOSTORS, *map(faked_name, FAKED_FRACTIONS))
            }
            honest[name] = chain["honest_accept"][calibrated]
            resolved[name] = chain["honest_resolved"][calibrated]
            lane[name] = {k_: chain[k_] for k_ in ("design", "tolerance", "honest_max_lane")}
            continue
        detection[name] = {
            **{c: entry["task_detection"][c][k] for c in WHOLE_IMAGE_IMPOSTORS},
            **{
                f: entry["challenge_detection"][f][k]["measured"]
                for f in entry["challenge_detection"]
            },
        }
        honest[name] = entry["honest_task_accept"][calibrated][k]
    text = results.get("text") or {}
    calibrated = honest_name(CALIBRATION_NOISE)
    if text:
        chain = _chain_entry(text)
        if chain is not None:
            detection[text["model"]] = {c: chain["detection"].get(c) for c in TEXT_IMPOSTORS}
            honest[text["model"]] = chain["honest_accept"][calibrated]
            resolved[text["model"]] = chain["honest_resolved"][calibrated]
            lane[text["model"]] = {
                k_: chain[k_] for k_ in ("design", "tolerance", "honest_max_lane")
            }
        else:
            detection[text["model"]] = {c: text["task_reject_k1"].get(c) for c in TEXT_IMPOSTORS}
            honest[text["model"]] = 1.0 - text["task_reject_k1"].get(calibrated, float("nan"))
    costs = results.get("costs", {})
    # The compute at the chain's challenge (4 steps) where the results measured it, else (results
    # made before) at DEFAULT_CHALLENGE.
    chain_k = str(CHAIN_CHALLENGE)
    measured = [c["by_challenge"] for c in costs.values() if "by_challenge" in c]
    cost_k = chain_k if measured and all(chain_k in m for m in measured) else k
    return {
        "auditor_cost_ratio": {
            name: (c["by_challenge"][cost_k] if "by_challenge" in c else c)["auditor_cost_ratio"]
            for name, c in costs.items()
        },
        "verified_cost_ratio": {
            name: (c["by_challenge"][cost_k] if "by_challenge" in c else c)["verified_cost_ratio"]
            for name, c in costs.items()
        },
        "verified_cost_ratio_one_decode": {
            name: c["by_challenge"][cost_k]["verified_cost_ratio_one_decode"]
            for name, c in costs.items()
            if "by_challenge" in c
        },
        "detection": detection,
        "honest_accept": honest,
        "honest_resolved": resolved,
        "lane_tolerance": lane,
        "registry_audit_tolerance": registry_tolerances(),
        "calibration_noise": {"image": IMAGE_CALIBRATION_NOISE, "text": CALIBRATION_NOISE},
        "challenge_size": CHAIN_CHALLENGE if lane else DEFAULT_CHALLENGE,
        "cost_challenge_size": int(cost_k),
        "tolerances": {n: e["tolerances"] for n, e in results["diffusion"].items()},
        "sketch": {n: e["chosen"] for n, e in results["diffusion"].items()},
        "text_margin": text.get("margin"),
        "text_sketch": text.get("chosen"),
        "text_tolerance": text.get("tolerance"),
        "gas_audited_task": None,
        "gas_note": "not measured by the study: bench.audit_gas measures it on Anvil",
        "targets": TARGETS,
    }


def registry_tolerances() -> dict[str, int]:
    """The audit tolerance the registry gets per model (`AUDIT_LANE_TOLERANCE`: the study's T at
    its setting, widened to cover every input an audited task accepts)."""
    from inference.audit.calibrated import AUDIT_LANE_TOLERANCE

    return dict(AUDIT_LANE_TOLERANCE)


def _pc(value: float | None) -> str:
    if value is None or value != value:
        return "-"
    return f"{100 * value:.1f}%"


def chain_tables(results: dict[str, Any]) -> list[str]:
    """Markdown tables of the figures under the chain's comparison: per model the lane
    tolerance T of each candidate design, honest acceptance and majority-of-3 resolution, and
    each impostor's detection (outvoted by the two honest auditors)."""
    lines: list[str] = []
    parts = [(name, entry.get("chain")) for name, entry in results["diffusion"].items()]
    text = results.get("text") or {}
    if text:
        parts.append((text["model"], text.get("chain")))
    summary = []
    for name, chain in parts:
        if not chain:
            continue
        conditions = list(next(iter(chain["candidates"].values()))["detection"])
        is_text = name == text.get("model")
        noise = chain.get("calibration_noise", CALIBRATION_NOISE)
        levels = chain.get("noise_levels", NOISE_LEVELS)
        heads = " | ".join(f"{e:g}" for e in levels[1:])
        lines += [
            f"**{name}** under the chain's comparison ({chain['challenge']} challenged "
            f"{'leaf' if chain['challenge'] == 1 else 'leaves'}; {chain['draws']} challenges "
            f"per held-out "
            + ("prompt" if is_text else "trajectory")
            + "; T = largest honest lane distance on the calibration "
            + ("prompts" if is_text else "seeds")
            + f" at {noise:g} + {TOLERANCE_SLACK}):",
            "",
            f"| sketch | honest max lane (held out) | T | honest pair {levels[0]:g} | {heads} | "
            f"resolved (of 3) {levels[0]:g} | {heads} | " + " | ".join(conditions) + " |",
            "|---" * (3 + 2 * len(levels) + len(conditions)) + "|",
        ]
        for design, c in chain["candidates"].items():
            mark = " (chosen)" if design == chain["design"] else ""
            lines.append(
                f"| {design}{mark} | {c['honest_max_lane']} "
                f"({c.get('honest_max_lane_judged', '-')}) | {c['tolerance']} | "
                + " | ".join(_pc(c["honest_accept"].get(honest_name(e))) for e in levels)
                + " | "
                + " | ".join(_pc(c["honest_resolved"].get(honest_name(e))) for e in levels)
                + " | "
                + " | ".join(_pc(c["detection"].get(x)) for x in conditions)
                + " |"
            )
        if "honest_max_lane_by_step" in chain:
            lines += [
                "",
                f"Largest honest lane distance per step (`{chain['design']}`, calibration): "
                f"{chain['honest_max_lane_by_step']}; faked steps caught by chance alone "
                f"(a faked step among the {chain['challenge']} challenged of n-1): "
                + ", ".join(f"{f} {_pc(v)}" for f, v in chain["faked_analytic"].items())
                + ".",
            ]
        if "sketch_detection" in chain["candidates"][chain["design"]]:
            lines += [
                "",
                f"Margin {chain['margin']:.4f}; the sketch alone (`{chain['design']}`, ignoring "
                "the margin) detects: "
                + ", ".join(
                    f"{c} {_pc(v)}"
                    for c, v in chain["candidates"][chain["design"]]["sketch_detection"].items()
                )
                + ".",
            ]
        lines.append("")
        chosen = chain["candidates"][chain["design"]]
        summary.append((name, chain["design"], chosen, noise))
    if summary:
        lines += [
            "| model | sketch | calibration noise | honest max lane | T | honest pair | "
            "resolved (of 3) | weakest whole-model detection |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, design, c, noise in summary:
            calibrated = honest_name(noise)
            whole = TEXT_IMPOSTORS if name == text.get("model") else WHOLE_IMAGE_IMPOSTORS
            weakest = min(whole, key=lambda x: c["detection"].get(x, 2.0))
            lines.append(
                f"| {name} | {design} | {noise:g} | {c['honest_max_lane']} | {c['tolerance']} | "
                f"{_pc(c['honest_accept'][calibrated])} | {_pc(c['honest_resolved'][calibrated])} "
                f"| {weakest} {_pc(c['detection'].get(weakest))} |"
            )
        lines.append("")
    return lines


def tables(results: dict[str, Any]) -> list[str]:
    """Markdown tables of a study's results (the report's and the benchmark's)."""
    lines: list[str] = chain_tables(results)
    costs = results.get("costs", {})
    if costs:
        lines += [
            "| model | k | unverified CPU s | executor / unverified | auditor / unverified | "
            "(executor + 2 auditors) / unverified | the same, one auditor decodes |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, c in costs.items():
            rows = c["by_challenge"].values() if "by_challenge" in c else [c]
            for row in rows:
                lines.append(
                    f"| {name} | {row['challenge_size']} | {row['seconds']['unverified']:.3f} | "
                    f"{row['executor_cost_ratio']:.3f} | {row['auditor_cost_ratio']:.3f} | "
                    f"{row['verified_cost_ratio']:.3f} | "
                    + (
                        f"{row['verified_cost_ratio_one_decode']:.3f} |"
                        if "verified_cost_ratio_one_decode" in row
                        else "- |"
                    )
                )
        lines.append("")
    for name, entry in results["diffusion"].items():
        lines += [
            f"**{name}** (calibration seeds {entry['seeds_calibration'][0]}.."
            f"{entry['seeds_calibration'][-1]} odd, judged on the even ones; "
            f"{entry['steps']} steps each). Per step, on held-out seeds:",
            "",
            "| sketch / tolerance | "
            + " | ".join(f"honest {e:g}" for e in IMAGE_NOISE_LEVELS)
            + " | "
            + " | ".join((*WHOLE_IMAGE_IMPOSTORS, *OTHER_IMAGE_CONDITIONS))
            + " | "
            + " | ".join(faked_name(f) + " (faked steps)" for f in FAKED_FRACTIONS)
            + " |",
            "|---" * (4 + len(WHOLE_IMAGE_IMPOSTORS) + 1 + len(FAKED_FRACTIONS)) + "|",
        ]
        for key, c in entry["candidates"].items():
            mark = " (chosen)" if key == entry["chosen"] else ""
            lines.append(
                f"| {key}{mark} | "
                + " | ".join(
                    _pc(c["honest_step_accept"][honest_name(e)]) for e in IMAGE_NOISE_LEVELS
                )
                + " | "
                + " | ".join(
                    _pc(c["step_detection"].get(name))
                    for name in (*WHOLE_IMAGE_IMPOSTORS, *OTHER_IMAGE_CONDITIONS)
                )
                + " | "
                + " | ".join(
                    _pc(c["faked_step_detection"].get(faked_name(f))) for f in FAKED_FRACTIONS
                )
                + " |"
            )
        lines += [
            "",
            f"Chosen `{entry['chosen']}`, thresholds per step: {entry['tolerances']}. "
            f"Per task with k challenged steps (honest: accepted; others: detected; "
            f"200 challenges per held-out trajectory):",
            "",
            "| condition | " + " | ".join(f"k={k}" for k in CHALLENGE_SIZES) + " |",
            "|---" * (1 + len(CHALLENGE_SIZES)) + "|",
        ]
        for eps in IMAGE_NOISE_LEVELS:
            row = entry["honest_task_accept"][honest_name(eps)]
            lines.append(
                f"| honest {eps:g} | "
                + " | ".join(_pc(row[str(k)]) for k in CHALLENGE_SIZES)
                + " |"
            )
        for c in (*WHOLE_IMAGE_IMPOSTORS, *OTHER_IMAGE_CONDITIONS):
            row = entry["task_detection"][c]
            lines.append(f"| {c} | " + " | ".join(_pc(row[str(k)]) for k in CHALLENGE_SIZES) + " |")
        for label in map(faked_name, FAKED_FRACTIONS):
            row = entry["challenge_detection"][label]
            lines.append(
                f"| {label}: measured / 1-(1-f)^k | "
                + " | ".join(
                    f"{_pc(row[str(k)]['measured'])} / {_pc(row[str(k)]['analytic'])}"
                    for k in CHALLENGE_SIZES
                )
                + " |"
            )
        lines += [
            "",
            "Final decode (auditor's digest of the served last latent within the model's "
            "tolerance of the executor's): "
            + ", ".join(f"{c} {_pc(v)}" for c, v in entry["decode_match"].items()),
            "",
        ]
    text = results.get("text")
    if not text:
        return lines
    lines += [
        f"**{text['model']}** (calibration prompts odd, judged on even): largest honest token "
        f"gap at {CALIBRATION_NOISE:g} = {text['largest_honest_gap_calibration']:.4f}, margin "
        f"{text['margin']:.4f}; hidden-state sketch `{text['chosen']}` tolerance "
        f"{text['tolerance']}.",
        "",
        "| condition | tokens (median) | within margin | task rejected (margin, or sketch at one "
        "position) |",
        "|---|---|---|---|",
    ]
    for c, v in text["margin_accept"].items():
        lines.append(
            f"| {c} | {text['tokens_median'][c]:.0f} | {_pc(v)} | "
            f"{_pc(text['task_reject_k1'][c])} |"
        )
    lines += [
        "",
        "| hidden sketch / tolerance | honest per position | impostor per position |",
        "|---|---|---|",
    ]
    for name, d in text["designs"].items():
        lines.append(
            f"| {name} ({d['tolerance']}) | "
            + ", ".join(f"{c} {_pc(v)}" for c, v in d["honest_position_accept"].items())
            + " | "
            + ", ".join(f"{c} {_pc(v)}" for c, v in d["impostor_position_detection"].items())
            + " |"
        )
    return lines
