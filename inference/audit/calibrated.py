"""The audited mode's calibrated constants, from the audit study (reports/study/AUDIT.md; set
on odd seeds and prompts at modelled honest noise 1e-3, judged on even ones). A node reads them;
the contract will hold the same numbers per model."""

from __future__ import annotations

from inference.digests import Tolerance

DIFFUSION_SKETCH: dict[str, str] = {"tiny-sd": "q0.1-prediction", "digits": "q0.3-prediction"}
"""Per model, the step sketch: 256 quantised projections of the denoiser prediction the step
implies (width 0.1 for tiny-sd, 0.3 for Digits-Gen, whose honest noise varies more by step)."""
DIFFUSION_TOLERANCE: dict[str, int] = {"tiny-sd": 50}
"""One Hamming threshold for every step, at any step count (tiny-sd: it detects as much as the
per-step table below; Digits-Gen has none: its last steps need 202 bits, which would pass all)."""
DIFFUSION_STEP_TOLERANCES: dict[tuple[str, int], tuple[int, ...]] = {
    ("tiny-sd", 20): (
        36,
        39,
        39,
        46,
        46,
        50,
        50,
        62,
        62,
        62,
        46,
        45,
        45,
        45,
        47,
        51,
        51,
        51,
        55,
        55,
    ),
    ("digits", 50): (
        *(6, 6, 6, 7, 7, 7, 10, 11, 11, 11, 11, 11, 10, 10, 14, 14, 15, 15, 17, 17),
        *(20, 20, 20, 21, 21, 21, 21, 21, 21, 16, 17, 17, 17, 14, 11, 12, 12, 12, 10, 10),
        *(10, 9, 9, 5, 5, 6, 6, 6, 202, 202),
    ),
}
"""Per (model, steps), one threshold per step index (n bytes on chain: a slot for n <= 32)."""
TEXT_SKETCH = "sign-state"
"""Hidden states at challenged positions: SmolLM2's noise accumulates over 30 layers, and the
sign bits tolerate that (6 bits) while half the layers or int8 weights move them far."""
TEXT_TOLERANCE: dict[str, int] = {"smollm2-135m": 6, "tiny-llama": 4}
"""Per model, the Hamming threshold of one hidden-state sketch (largest honest distance at noise
1e-3 on the calibration prompts + 2). tiny-llama (random weights, for tests) by the study's
procedure (inference.study.audit_text, the LLM study's first 32 prompts, 32 tokens): largest
honest sign-state distance 2, every half-layer position past it; its margin below is the floor."""
TEXT_MARGIN: dict[str, float] = {"smollm2-135m": 0.095, "tiny-llama": 0.05}
"""Largest logit gap below the auditor's argmax that a generated token may have (2 x the
largest gap honest noise 1e-3 made in calibration, at least 0.05: SmolLM2 0.048 -> 0.095;
tiny-llama 0.002 -> the floor)."""

AUDIT_LANE_TOLERANCE: dict[str, int] = {"tiny-sd": 24, "smollm2-135m": 6, "tiny-llama": 4}
"""Per auditable model, the per-lane threshold (the same in each of the four 64-bit lanes) of
the compared digest on chain, lane j being lane j of the sketch of challenged leaf j: the
registry's audit tolerance (`setAuditTolerance`), the floor of every audited request.
Provisional values pending the audit study's calibration under this rule. Digits-Gen is not
auditable by a node (its steps are not a diffusers pipeline's)."""


def auditable(kind: str, name: str) -> bool:
    """Whether the audited mode has calibrated constants for this model (a node audits no other):
    its sketch and its audit tolerance (the registry's floor for its audited tasks)."""
    sketched = name in (DIFFUSION_SKETCH if kind == "image" else TEXT_TOLERANCE)
    return sketched and name in AUDIT_LANE_TOLERANCE


def audit_tolerance(model: str) -> Tolerance | None:
    """The audit tolerance of `model` (a manifest name), or None if it cannot be audited."""
    lane = AUDIT_LANE_TOLERANCE.get(model)
    return None if lane is None else Tolerance((lane, lane, lane, lane))
