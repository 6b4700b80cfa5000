"""Calibration: the study's recommended scheme and tolerance, written to inference/tolerances.json.

The node's side reads that file (`inference.tolerances.calibrated`) when it builds a model's
manifest, so a recalibration changes the manifest (and so the on-chain modelId and its default
tolerance) in one place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inference.digests import IMAGE_SCHEMES
from inference.study.report import best_scheme
from inference.tolerances import TOLERANCES_FILE


def record_tolerances(
    result: dict[str, Any], *, source: str, path: Path = TOLERANCES_FILE, scheme: str | None = None
) -> dict[str, Any]:
    """Set the model's entry to a scheme (default: its best) at the recommended tolerance.

    Other models' entries are kept. A fixed `scheme` serves models whose digests are pinned
    elsewhere (golden tests) and that only get their tolerance calibrated.
    """
    scheme = scheme or best_scheme(result)
    recommendation = result["schemes"][scheme]["recommendation"]
    default = [int(t) for t in recommendation["tolerance"]]
    maximum = [
        max(d, m) for d, m in zip(default, IMAGE_SCHEMES[scheme].max_tolerance.lanes, strict=True)
    ]
    at = result["schemes"][scheme]["at_recommended"]
    split = result.get("split", {"held_out": False})
    entry = {
        "scheme": scheme,
        "default_tolerance": default,
        "max_tolerance": maximum,
        "source": source,
        "evidence": {
            "honest_pair_agreement": at["honest"],
            "intra_class_pair_collision": at["intra_class"],
            "weakest_impostor_detection": min(v for k, v in at.items() if k.startswith("detect[")),
            "cells": next(iter(result["samples"].values())),
            "measured_on": "held-out even seeds (chosen on odd seeds)"
            if split["held_out"]
            else "the calibration pairs",
        },
    }
    table = json.loads(path.read_text()) if path.is_file() else {}
    table[result["model"]] = entry
    path.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
    return entry


DESIGN_SCHEMES = {
    "fine64": "phash64+fine64",
    "dhash64": "phash64+dhash64",
    "sample-k2": "phash64+sample192",
}
"""The study's designs that are registered digest schemes (inference.digests.IMAGE_SCHEMES)."""


def setting_model(setting: str) -> str:
    """The model a noise-study setting belongs to ("tiny-sd-128px-20steps" -> "tiny-sd",
    "digits-150steps" -> "digits")."""
    for model in ("tiny-sd", "digits"):
        if setting == model or setting.startswith(model + "-"):
            return model
    return setting


def record_noise_tolerances(
    results: dict[str, dict[str, Any]],
    design: str,
    *,
    source: str,
    noise: float | None = None,
    path: Path = TOLERANCES_FILE,
) -> dict[str, dict[str, Any]]:
    """Each model's floor under the chosen design: at the target noise, the elementwise largest
    tolerance over the model's settings (input sizes and step counts), each chosen on odd
    seeds; the evidence is the held-out figures of the setting that ran every impostor."""
    from inference.study.noise import TARGET_NOISE

    eps = f"{TARGET_NOISE if noise is None else noise:g}"
    scheme = DESIGN_SCHEMES.get(design)
    if scheme is None:
        raise ValueError(
            f"design {design!r} is not a registered scheme; register it in inference.digests "
            f"and DESIGN_SCHEMES first (registered: {', '.join(DESIGN_SCHEMES)})"
        )
    table = json.loads(path.read_text()) if path.is_file() else {}
    written: dict[str, dict[str, Any]] = {}
    by_model: dict[str, list[str]] = {}
    for setting in results:
        by_model.setdefault(setting_model(setting), []).append(setting)
    for model, settings in by_model.items():
        figures = [results[s]["designs"][design]["noise"][eps] for s in settings]
        default = [max(f["tolerance"][lane] for f in figures) for lane in range(4)]
        maximum = [
            max(d, m)
            for d, m in zip(default, IMAGE_SCHEMES[scheme].max_tolerance.lanes, strict=True)
        ]
        judged = max(figures, key=lambda f: len(f["detected"]))
        entry = {
            "scheme": scheme,
            "default_tolerance": default,
            "max_tolerance": maximum,
            "source": source,
            "evidence": {
                "noise": float(eps),
                "settings": settings,
                "honest_pair_agreement": judged["honest_pair_accept"],
                "honest_majority3": judged["honest_majority3_accept"],
                "detected": judged["detected"],
                "boundary_noise": results[settings[0]]["designs"][design]["boundary_noise"],
                "measured_on": "held-out even seeds (chosen on odd seeds)",
            },
        }
        if "input_tolerance" in table.get(model, {}):
            # The input rule comes from the corners (record_input_tolerance), not from here.
            entry["input_tolerance"] = table[model]["input_tolerance"]
        table[model] = entry
        written[model] = entry
    path.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
    return written
