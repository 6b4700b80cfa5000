"""Does one audit tolerance hold for every input an audited image task accepts? Honest executors
and auditors (each with modelled noise of its own at the image calibration noise, and an auditor
on the native convolutions instead of oneDNN: real other arithmetic) over guidance, size and
step count, every step recomputed, compared on the chosen sketch's four lanes as the chain does.

Classifier-free guidance multiplies the difference of two denoiser outputs by the guidance, so
the noise in the guided prediction, which the sketch sees, grows with it: the largest guidance
whose honest lanes stay within the model's T is the audited input rule's bound
(``inference.audit.calibrated.AUDIT_INPUT_LIMITS``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from inference.study.audit_steps import IMAGE_CALIBRATION_NOISE, DiffusionSetting, tiny_sd_setting

GUIDANCES: tuple[float, ...] = (0.0, 2.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 50.0)
"""At 64 px / 20 steps."""
SHAPES: tuple[tuple[int, int], ...] = ((128, 20), (256, 20), (64, 10), (64, 50), (64, 150))
"""(size, steps) at guidance 7.5."""
SEEDS = 4


def _honest_lanes(setting: DiffusionSetting, seed: int, design_name: str) -> int:
    """The largest lane distance, over every step, of the three honest pairs and of the
    executor against a native-convolution auditor."""
    import torch

    from inference.audit.diffusion import as_array, recompute_step, run_trajectory, step_affine
    from inference.audit.sketch import DESIGNS
    from inference.digests import lane_distances
    from inference.hardware_noise import injected_noise

    design = DESIGNS[design_name]
    unet = setting.denoiser()
    with injected_noise(unet, IMAGE_CALIBRATION_NOISE, [seed], 0):
        trajectory = run_trajectory(setting.make(seed))
    auditor = setting.make(seed)
    largest = 0
    for index in range(setting.steps):
        before = trajectory.latents[index]
        recomputed = []
        for replica in (1, 2):
            with injected_noise(unet, IMAGE_CALIBRATION_NOISE, [seed * 4096 + index], replica):
                recomputed.append(as_array(recompute_step(auditor, index, before)))
        with torch.backends.mkldnn.flags(enabled=False):
            recomputed.append(as_array(recompute_step(auditor, index, before)))
        affine = step_affine(auditor, index, before)
        claimed = design.sketch_step(
            as_array(before), as_array(trajectory.latents[index + 1]), affine
        )
        mine = [design.sketch_step(as_array(before), r, affine) for r in recomputed]
        pairs = [(claimed, m) for m in mine] + [(mine[0], mine[1])]
        largest = max(largest, *(max(lane_distances(a, b)) for a, b in pairs))
    return largest


def run_audit_inputs(
    progress: Callable[[str], None] | None = None,
    guidances: Sequence[float] = GUIDANCES,
    shapes: Sequence[tuple[int, int]] = SHAPES,
    seeds: int = SEEDS,
) -> dict[str, Any]:
    """tiny-sd's largest honest lane per input corner against its audit tolerance."""
    from inference.audit.calibrated import AUDIT_LANE_TOLERANCE, DIFFUSION_SKETCH
    from inference.determinism import deterministic

    design = DIFFUSION_SKETCH["tiny-sd"]
    tolerance = AUDIT_LANE_TOLERANCE["tiny-sd"]
    corners = [(64, 20, g) for g in guidances] + [(size, steps, 7.5) for size, steps in shapes]
    rows = []
    started = time.perf_counter()
    with deterministic(1):
        for size, steps, guidance in corners:
            setting = tiny_sd_setting(size, steps, guidance)
            lanes = [_honest_lanes(setting, seed, design) for seed in range(1, seeds + 1)]
            rows.append(
                {
                    "size": size,
                    "steps": steps,
                    "guidance": guidance,
                    "largest_lane": int(np.max(lanes)),
                    "by_seed": lanes,
                    "within_tolerance": bool(np.max(lanes) <= tolerance),
                }
            )
            if progress is not None:
                progress(
                    f"{size} px, {steps} steps, guidance {guidance:g}: largest lane {max(lanes)}"
                )
    return {
        "model": "tiny-sd",
        "design": design,
        "tolerance": tolerance,
        "noise": IMAGE_CALIBRATION_NOISE,
        "seeds": seeds,
        "corners": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
