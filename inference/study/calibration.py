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
