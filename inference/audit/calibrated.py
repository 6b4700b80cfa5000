"""The audited mode's calibrated constants, from the audit study (reports/study/AUDIT.md; set
on odd seeds and prompts at modelled honest noise 1e-3, judged on even ones). A node reads them;
the contract will hold the same numbers per model."""

from __future__ import annotations

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


def auditable(kind: str, name: str) -> bool:
    """Whether the audited mode has calibrated constants for this model (a node audits no other)."""
    return name in (DIFFUSION_SKETCH if kind == "image" else TEXT_TOLERANCE)


def text_task_tolerance(name: str) -> tuple[int, int, int, int]:
    """The lane thresholds an audited text task needs. The contract compares the executor's and
    the auditors' digests with the task's one tolerance, lane j holding 64 bits of the sketch of
    challenged position j, so each lane gets the sketch's threshold: an honest lane never moves
    further than its whole sketch. (The result itself, sha256 of the tokens, is checked exactly
    by each auditor off chain.)"""
    threshold = TEXT_TOLERANCE[name]
    return (threshold, threshold, threshold, threshold)
