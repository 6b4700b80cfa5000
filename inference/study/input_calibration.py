"""Calibrate a model's input rule (inference.input_tolerance) from the noise study's corners.

The noise study runs tiny-sd at its own 64 px / 10 steps with each scheduler a request may name
and at several guidance scales, alone and combined ("tiny-sd-64px-10steps-euler_a-guidance20"),
and at other sizes and step counts (Digits-Gen: its other schedulers and step counts). Each
setting is a corner; its floor is chosen on the odd seeds (``inference.study.accuracy``). The
rule is:

- guidance bands: one band per measured guidance above the model's default guidance, holding the
  largest floor measured at or below its upper end, at any size or step count the study ran (a
  running maximum, so the rule never drops where the floor was measured to fall);
- scheduler extras: per scheduler, the most its corners' floors exceed their band's, over every
  guidance it was measured at (0 where it never does).

So every measured corner is covered by construction; between measured guidances the band's
upper end covers the band while the floor grows with the guidance, which the points inside the
bands check. Each corner is then judged on the even seeds at the rule's tolerance (held out).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.digests import Tolerance
from inference.input_tolerance import GuidanceBand, InputTolerance, lanewise_max
from inference.specs import MAX_GUIDANCE, SCHEDULERS
from inference.study.accuracy import judge, pair_sets
from inference.study.calibration import setting_model
from inference.study.designs import load_digests
from inference.study.noise import DEFAULT_GUIDANCE, DEFAULT_SCHEDULER, NOISE_LEVELS
from inference.tolerances import TOLERANCES_FILE

Lanes = tuple[int, int, int, int]

_CORNER = re.compile(
    r"^(?P<base>tiny-sd-\d+px-\d+steps|digits(?:-\d+steps)?)"
    r"(?:-(?P<scheduler>[a-z_+]+))?(?:-guidance(?P<guidance>[\d.]+))?$"
)
BASES = {"tiny-sd": "tiny-sd-64px-10steps", "digits": "digits"}
"""Each model's own setting, whose corners (schedulers, guidance) its rule is derived from."""


@dataclass(frozen=True)
class Corner:
    """A noise-study setting read as the input it stands for."""

    setting: str
    base: str
    scheduler: str
    guidance: float


def read_corner(setting: str) -> Corner | None:
    """The base setting, scheduler and guidance a setting's name encodes (None: not a corner)."""
    match = _CORNER.match(setting)
    if match is None:
        return None
    scheduler = match["scheduler"] or DEFAULT_SCHEDULER
    if scheduler == "ddim" and match["base"].startswith("digits"):
        scheduler = DEFAULT_SCHEDULER  # Digits-Gen's own scheduler
    if scheduler not in SCHEDULERS:
        return None
    guidance = float(match["guidance"]) if match["guidance"] else DEFAULT_GUIDANCE
    return Corner(setting, match["base"], scheduler, guidance)


def is_plain_setting(setting: str) -> bool:
    """A model's own scheduler and guidance (any size or step count): not an input corner."""
    corner = read_corner(setting)
    return corner is None or (
        corner.scheduler == DEFAULT_SCHEDULER and corner.guidance == DEFAULT_GUIDANCE
    )


def _floor(results: dict[str, Any], setting: str, design: str, eps: str) -> Lanes:
    lanes = results[setting]["designs"][design]["noise"][eps]["tolerance"]
    return (int(lanes[0]), int(lanes[1]), int(lanes[2]), int(lanes[3]))


def derive_rule(
    results: dict[str, dict[str, Any]], design: str, model: str, eps: str
) -> InputTolerance:
    """The input rule that covers every measured corner of `model`, at every size and step
    count the study ran (see the module docstring)."""
    corners = [
        c for s in results if setting_model(s) == model and (c := read_corner(s)) is not None
    ]
    base = BASES[model]
    plain = sorted(
        (c for c in corners if c.scheduler == DEFAULT_SCHEDULER), key=lambda c: c.guidance
    )
    if not any(c.setting == base for c in plain):
        raise ValueError(f"{model}: its own setting {base} is needed")
    bounds = sorted(
        {DEFAULT_GUIDANCE, MAX_GUIDANCE}
        | {c.guidance for c in plain if c.guidance > DEFAULT_GUIDANCE}
    )
    bands: list[GuidanceBand] = []
    running: Lanes = (0, 0, 0, 0)
    for bound in bounds:
        for corner in plain:
            if corner.guidance <= bound:
                running = lanewise_max(running, _floor(results, corner.setting, design, eps))
        bands.append(GuidanceBand(up_to=bound, tolerance=running))
    rule = InputTolerance(guidance_bands=tuple(bands))
    extras: dict[str, Lanes] = {}
    for corner in corners:
        if corner.scheduler == DEFAULT_SCHEDULER:
            continue
        band = rule.band_for(corner.guidance).tolerance
        floor = _floor(results, corner.setting, design, eps)
        over: Lanes = (
            max(0, floor[0] - band[0]),
            max(0, floor[1] - band[1]),
            max(0, floor[2] - band[2]),
            max(0, floor[3] - band[3]),
        )
        extras[corner.scheduler] = lanewise_max(extras.get(corner.scheduler, (0, 0, 0, 0)), over)
    return InputTolerance(
        guidance_bands=tuple(bands),
        scheduler_extra={name: lanes for name, lanes in sorted(extras.items()) if any(lanes)},
    )


def judge_rule(
    digests_dir: Path,
    settings: list[str],
    rule: InputTolerance,
    default: Lanes,
    design: str,
) -> dict[str, dict[str, Any]]:
    """Each corner at the rule's tolerance, on its even (held-out) seeds, at every noise level
    it ran: honest pair and majority-of-3 acceptance and each impostor's detection."""
    judged: dict[str, dict[str, Any]] = {}
    for setting in settings:
        corner = read_corner(setting)
        if corner is None:
            continue
        tolerance = rule.needs(default, corner.guidance, corner.scheduler)
        stored = load_digests(digests_dir / f"{setting}-digests.npz")
        digests = stored.packed[design]
        even = stored.seeds % 2 == 0
        per_noise: dict[str, Any] = {}
        for eps in NOISE_LEVELS:
            if not all(f"noise-{eps:.0e}-r{r}" in digests for r in range(4)):
                continue
            held = pair_sets(digests, stored.present, stored.classes, even, eps)
            figures = judge(held, tolerance)
            per_noise[f"{eps:g}"] = {
                key: figures[key]
                for key in ("honest_pair_accept", "honest_pairs", "honest_majority3_accept")
            } | {"detected": figures["detected"]}
        judged[setting] = {
            "scheduler": corner.scheduler,
            "guidance": corner.guidance,
            "tolerance": list(tolerance),
            "noise": per_noise,
        }
    return judged


def record_input_tolerance(
    results: dict[str, dict[str, Any]],
    design: str,
    *,
    digests_dir: Path,
    model: str = "tiny-sd",
    noise: float = 1e-3,
    path: Path = TOLERANCES_FILE,
) -> dict[str, Any]:
    """Derive the model's input rule at `noise`, judge it held out, write it to the table."""
    table = json.loads(path.read_text()) if path.is_file() else {}
    if model not in table:
        raise ValueError(f"{path} has no entry for {model}: write its floor first")
    default_lanes = Tolerance.of(*table[model]["default_tolerance"]).lanes
    rule = derive_rule(results, design, model, f"{noise:g}")
    corners = [s for s in results if setting_model(s) == model and read_corner(s) is not None]
    judged = judge_rule(digests_dir, corners, rule, default_lanes, design)
    entry = rule.model_dump(mode="json") | {
        "evidence": {
            "noise": noise,
            "floors_on_odd_seeds": {
                s: list(_floor(results, s, design, f"{noise:g}")) for s in corners
            },
            "held_out_even_seeds": judged,
        }
    }
    table[model]["input_tolerance"] = entry
    path.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
    return entry


def weakest_corner(entry: dict[str, Any], noise: float = 1e-3) -> tuple[str, float, float]:
    """(setting, honest pair, majority of 3) of the corner the rule serves worst, held out."""
    rows = [
        (
            s,
            v["noise"][f"{noise:g}"]["honest_pair_accept"],
            v["noise"][f"{noise:g}"]["honest_majority3_accept"],
        )
        for s, v in entry["evidence"]["held_out_even_seeds"].items()
        if f"{noise:g}" in v["noise"]
    ]
    return min(rows, key=lambda row: (row[2], row[1]), default=("", float("nan"), float("nan")))


def models_with_corners(results: dict[str, dict[str, Any]]) -> list[str]:
    """The models whose own setting and at least one of its corners are among the results."""
    found = []
    for model, base in BASES.items():
        corners = [c for s in results if (c := read_corner(s)) is not None and c.base == base]
        if any(c.setting == base for c in corners) and len(corners) > 1:
            found.append(model)
    return found
