"""The audited mode's calibrated constants, from the audit study (reports/study/AUDIT.md; set
on odd seeds and prompts at modelled honest noise 1e-3, judged on even ones). A node reads them;
the registry holds each model's AUDIT_LANE_TOLERANCE (`setAuditTolerance`, set by
`register_model`)."""

from __future__ import annotations

from inference.digests import Tolerance

DIFFUSION_SKETCH: dict[str, str] = {"tiny-sd": "q0.1-prediction", "digits": "q0.01-state"}
"""Per model, the step sketch, chosen under the chain's comparison (one lane tolerance for every
step): tiny-sd, 256 projections of the denoiser prediction the step implies quantised with width
0.1; Digits-Gen, of the step's result with width 0.01. Digits-Gen's prediction sketches need a
threshold per step (its last steps are noise: 42 of 64 bits in one lane), and one threshold that
passes them passes every impostor; the state's honest spread is even across steps."""
AUDIT_LANE_TOLERANCE: dict[str, int] = {
    "tiny-sd": 20,
    "digits": 15,
    "smollm2-135m": 5,
    "tiny-llama": 4,
}
"""Per model, the audit tolerance T the registry holds: the contract compares executor and
auditors on a digest whose lane j (64 bits) is lane j of the sketch of challenged leaf j (4
leaves, ``oracle.chain.audited.compared_digest``) and accepts two digests when every lane is
within T (packed T/T/T/T). Set by the audit study under that comparison
(``inference.study.audit_chain``; reports/study/AUDIT.md, "Under the chain's comparison"): T =
the largest honest lane distance over every step (text: position) and every lane of the odd
seeds (prompts) at modelled noise 1e-3, between the executor and two auditors, + 2 bits, for
the sketch above (images: DIFFUSION_SKETCH; text: TEXT_SKETCH); judged on the even seeds with
200 chain challenges each. tiny-sd (64 px, 20 steps, ``q0.1-prediction``): largest honest lane
18 (held out 17), every honest challenge at 1e-4 and 1e-3 accepted; fewer steps and DPM-Solver++
outvoted in 100 % of challenges, bf16 in 98 %, int8 in 18 %. Digits-Gen (50 steps,
``q0.01-state``): largest honest lane 13 (held out 13), every honest challenge at 1e-4 and 1e-3
accepted; DPM-Solver++ outvoted in 100 %, half the steps in 99 %, 20 % fewer in 57 %, bf16 and
int8 in 5-6 % (a single T cannot do what its old per-step table did). SmolLM2-135M (``sign-state``,
32 tokens): largest honest lane 3 (held out 3), every honest challenge at 1e-4 and 1e-3
accepted; with the margin check half the layers and int8 outvoted in 100 %, sampling in 88 %.
tiny-llama (``sign-state``): largest honest lane 2; half the layers, int8 and sampling outvoted
in every challenge."""
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
    """Whether the audited mode has calibrated constants for this model (a node audits no other):
    its sketch and its audit tolerance (the registry's floor for its audited tasks)."""
    sketched = name in (DIFFUSION_SKETCH if kind == "image" else TEXT_TOLERANCE)
    return sketched and name in AUDIT_LANE_TOLERANCE


def audit_tolerance(model: str) -> Tolerance | None:
    """The audit tolerance of `model` (a manifest name), or None if it cannot be audited."""
    lane = AUDIT_LANE_TOLERANCE.get(model)
    return None if lane is None else Tolerance((lane, lane, lane, lane))
