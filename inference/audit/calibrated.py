"""The audited mode's calibrated constants, from the audit study (reports/study/AUDIT.md; set
on odd seeds and prompts, judged on even ones): images at modelled honest noise 1e-5 per denoiser
output (an auditor recomputes one step, so only one evaluation's arithmetic differs: about 30x
what float32 is off by against float64), text at 1e-3 (a generation accumulates noise over its
tokens and layers). A node reads them; the registry holds each model's AUDIT_LANE_TOLERANCE
(`setAuditTolerance`, set by `register_model`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from inference.digests import Tolerance
from inference.errors import InvalidInputError

if TYPE_CHECKING:
    from inference.specs import ImageInput

DIFFUSION_SKETCH: dict[str, str] = {"tiny-sd": "q0.003-prediction", "digits": "q0.0003-state"}
"""Per model, the step sketch, chosen under the chain's comparison (one lane tolerance for every
step): tiny-sd, 256 projections of the denoiser prediction the step implies quantised with width
0.003; Digits-Gen, of the step's result with width 0.0003. Digits-Gen's prediction sketches need
a threshold per step (its last steps are noise: 38-52 of 64 bits in one lane), and one threshold
that passes them passes every impostor; the state's honest spread is even across steps."""
AUDIT_LANE_TOLERANCE: dict[str, int] = {
    "tiny-sd": 15,
    "smollm2-135m": 5,
    "tiny-llama": 4,
}
"""Per model, the audit tolerance T the registry holds: the contract compares executor and
auditors on their sketches of the one challenged leaf (``oracle.chain.audited.challenge``) and
accepts two when every 64-bit lane is within T (packed T/T/T/T). Set by the audit study under
that comparison (``inference.study.audit_chain``; reports/study/AUDIT.md, "Under the chain's
comparison"): T = the largest honest lane distance over every step (text: position) and every
lane of the odd seeds (prompts), between the executor and two auditors, + 2 bits, for the sketch
above (images: DIFFUSION_SKETCH; text: TEXT_SKETCH); judged on the even seeds with 200 chain
challenges each; for images then taken over every input an audited task accepts
(AUDIT_INPUT_LIMITS).

tiny-sd (``q0.003-prediction``, noise 1e-5): largest honest lane 9 at 64 px / 20 steps /
guidance 7.5 (held out 9), and over the input corners (``inference.study.audit_inputs``,
reports/study/audit-inputs.json) 11 at guidance 10 and at 256 px, 13 at 150 steps: T = 15. At
any T from 11 to 15 fewer steps, DPM-Solver++, bf16 and int8 are outvoted in 100 % of
challenges. Digits-Gen (``q0.0003-state``, 1e-5, T = 9 by the same rule at 50 steps): largest
honest lane 7 (held out 6); DPM-Solver++ outvoted in 100 %, bf16 and half the steps in 99 %,
20 % fewer in 98.8 %, int8 in 98 % (its last steps barely depend on the prediction). It has no
entry here: nodes audit diffusers pipelines only (its backend upscales its 16x16 samples, which
the audited executor does not), so the registry gives it no audit tolerance. A fleet noisier
than 1e-5 needs a wider T: at 1e-4 these T accept 1-4 % (tiny-sd) and 45 % (Digits-Gen) of
honest challenges.

SmolLM2-135M (``sign-state``, 32 tokens, 1e-3): largest honest lane 3 (held out 3), every
honest challenge at 1e-4 and 1e-3 accepted; with the margin check half the layers and int8
outvoted in 100 %, sampling in 88 %. tiny-llama (``sign-state``): largest honest lane 2; half
the layers, int8 and sampling outvoted in every challenge."""
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


@dataclass(frozen=True)
class AuditInputLimits:
    """The inputs an audited image task accepts: those whose honest step sketches the audit
    study measured within the model's audit tolerance (with its 2 bits of slack)."""

    max_guidance: float
    max_side: int


AUDIT_INPUT_LIMITS: dict[str, AuditInputLimits] = {
    "tiny-sd": AuditInputLimits(max_guidance=10.0, max_side=256),
}
"""Guidance multiplies the noise in the guided prediction the sketch sees (tiny-sd's largest
honest lane: 9 at guidance 7.5, 11 at 10, 14 at 15, 28 at 50), and larger latents spread it
over more elements (11 at 256 px; 512 px and more are unmeasured). Inputs past these are
refused as invalid by executor and auditors alike, so a requester's choice slashes nobody."""


def check_audited_image(name: str, spec: ImageInput) -> None:
    """InvalidInputError for an image input the model's audit tolerance was not measured for."""
    limits = AUDIT_INPUT_LIMITS.get(name)
    if limits is None:
        return
    if spec.guidance > limits.max_guidance:
        raise InvalidInputError(
            f"audited {name} tasks take guidance up to {limits.max_guidance:g} (its audit "
            f"tolerance was measured up to there), got {spec.guidance:g}: lower the guidance, "
            "or request a replicated task"
        )
    if max(spec.width, spec.height) > limits.max_side:
        raise InvalidInputError(
            f"audited {name} tasks take images up to {limits.max_side} px a side (its audit "
            f"tolerance was measured up to there), got {spec.width}x{spec.height}: ask for a "
            "smaller image, or request a replicated task"
        )
