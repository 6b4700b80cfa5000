"""Per-model digest schemes and tolerances, as calibrated by the collision study.

``inference/tolerances.json`` (written by ``inference.study.calibration``) maps a model name to
``{"scheme": ..., "default_tolerance": [t0, t1, t2, t3], "max_tolerance": [...], "source": ...}``
and, for an image model whose inputs can move honest re-runs further, ``"input_tolerance"`` (the
rule of ``inference.input_tolerance``, with the measurements it comes from).
A model it does not list uses its scheme's starting tolerances from ``inference.digests``. The
result goes into the model's manifest, which is where every other part reads it from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from inference.digests import Tolerance, scheme_default_tolerance, scheme_max_tolerance
from inference.errors import ManifestError
from inference.input_tolerance import InputTolerance

TOLERANCES_FILE = Path(__file__).with_name("tolerances.json")


def _read_table(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(table, dict):
        raise ManifestError(f"{path} must hold a JSON object keyed by model name")
    return table


def calibrated(
    model_name: str, default_scheme: str, table_path: Path | None = None
) -> tuple[str, Tolerance, Tolerance]:
    """(scheme, default tolerance, maximum tolerance) for a model (table: TOLERANCES_FILE)."""
    table_path = TOLERANCES_FILE if table_path is None else table_path
    entry = _read_table(table_path).get(model_name)
    if entry is None:
        return (
            default_scheme,
            scheme_default_tolerance(default_scheme),
            scheme_max_tolerance(default_scheme),
        )
    try:
        scheme = str(entry.get("scheme", default_scheme))
        default = Tolerance.of(*(int(t) for t in entry["default_tolerance"]))
        maximum = (
            Tolerance.of(*(int(t) for t in entry["max_tolerance"]))
            if "max_tolerance" in entry
            else scheme_max_tolerance(scheme)
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ManifestError(f"{table_path}: bad entry for {model_name!r}: {exc}") from exc
    return scheme, default, maximum


def calibrated_input_tolerance(
    model_name: str, table_path: Path | None = None
) -> InputTolerance | None:
    """The model's input rule (guidance bands, scheduler extras), or None where it has none."""
    table_path = TOLERANCES_FILE if table_path is None else table_path
    entry = _read_table(table_path).get(model_name) or {}
    rule = entry.get("input_tolerance")
    if rule is None:
        return None
    try:
        return InputTolerance.model_validate(
            {key: rule[key] for key in ("guidance_bands", "scheduler_extra") if key in rule}
        )
    except (ValidationError, TypeError) as exc:
        raise ManifestError(f"{table_path}: bad input_tolerance for {model_name!r}: {exc}") from exc
