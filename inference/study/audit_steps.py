"""The audit study's diffusion part: executors (honest under modelled noise, or impostors) whose
trajectories an honest auditor recomputes step by step, and the study's shared constants.

Honest noise is the noise study's model (``inference.study.noise``): relative Gaussian noise
``out * (1 + eps * z)`` on the denoiser's output at every evaluation, the executor and the auditor
each with a noise stream of its own; for text on every decoder layer's output (the residual
stream), which the KV cache carries into later tokens. Each diffusion trajectory is recomputed
step by step in full, so every challenge of k steps can be evaluated afterwards from the per-step
distances. Calibration on odd seeds (prompts), judgement on even ones, as in the noise study.

Diffusion impostors: fewer steps (the m-step trajectory interpolated onto the n claimed steps),
the Euler scheduler (its latents mapped into DDIM's space, a cheater's best effort), bfloat16
autocast, int8 dynamically quantised Linear layers (whole-model impostors: every step is off),
and an executor that skips the denoiser on a fraction f of the steps, reusing the previous
prediction (``lazy_trajectory``, in ``audit_impostors`` with the other impostors: the dishonest
executor lives with the study, not in the node's ``inference.audit``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from inference.audit.diffusion import (
    DiffusersSteps,
    DigitsSteps,
    StepModel,
    Trajectory,
    as_array,
    recompute_step,
    run_trajectory,
    step_affine,
    stretched_latents,
)
from inference.audit.sketch import DESIGNS, SketchDesign, distance
from inference.hardware_noise import injected_noise, noise_seed
from inference.study.audit_impostors import (
    Autocast,
    euler_to_ddim,
    faked_steps,
    lazy_trajectory,
)
from inference.study.noise import quantised

NOISE_LEVELS: tuple[float, ...] = (1e-4, 1e-3, 3e-3)
"""Text: the honest noise levels judged (on every decoder layer's output)."""
CALIBRATION_NOISE = 1e-3
"""Text: the noise the hidden-state tolerance and the margin are set at (the noise study's
TARGET_NOISE: a generation accumulates noise over its tokens and 30 layers)."""
IMAGE_NOISE_LEVELS: tuple[float, ...] = (1e-5, 1e-4, 1e-3)
"""Diffusion: the honest noise levels judged (on every denoiser output)."""
IMAGE_CALIBRATION_NOISE = 1e-5
"""Diffusion: the noise the audit tolerance is set at. An auditor recomputes one step from the
served latent, so the honest difference is one denoiser evaluation's arithmetic, not a
trajectory's accumulated drift: float32 against float64 moves tiny-sd's guided prediction by
3e-6 and Digits-Gen's by 6e-7, other thread counts and batch shapes and the native convolution
instead of oneDNN by 2e-7 to 5e-6 (reports/study/AUDIT.md). Relative noise 1e-5 on each denoiser
output moves tiny-sd's guided prediction by 1e-4 (guidance 7.5 amplifies it tenfold): about 30x
what float32 arithmetic itself is off by (TF32 is off in the determinism context)."""
TOLERANCE_SLACK = 2
"""Bits added to the largest honest distance seen in calibration (the noise study's rule)."""
MARGIN_FACTOR = 2.0
"""The logit margin is this times the largest honest gap seen in calibration."""
MARGIN_FLOOR = 0.05
FAKED_FRACTIONS: tuple[float, ...] = (0.1, 0.25, 0.5)
CHALLENGE_SIZES: tuple[int, ...] = (1, 2, 4, 8)
STEP_DESIGNS = (
    "sign-prediction",
    "q0.1-prediction",
    "q0.03-prediction",
    "q0.01-prediction",
    "q0.003-prediction",
    "q0.001-prediction",
    "q0.03-update",
    "q0.01-update",
    "q0.003-update",
    "q0.01-state",
    "q0.003-state",
    "q0.001-state",
    "q0.0003-state",
)
"""Candidate step sketches (widths for the calibration noise: a quantised bit flips with
probability about 0.8 r / w for a relative change r)."""
HIDDEN_DESIGNS = ("sign-state", "q0.3-state", "q0.1-state", "q0.03-state", "q0.01-state")
WHOLE_IMAGE_IMPOSTORS = ("steps-80pc", "steps-50pc", "dpm++", "bf16", "int8")
"""Cheaper or different computations that change every step."""
OTHER_IMAGE_CONDITIONS = ("euler",)
"""Euler: DDIM with eta 0 is Euler's method on the same ODE, so only the last step (to alpha
1 instead of DDIM's final alpha) differs; reported, not counted as a whole-model impostor."""
TEXT_IMPOSTORS = ("half-layers", "int8", "sampling")
AUDITOR_REPLICA = 1


def honest_name(eps: float) -> str:
    return f"noise-{eps:.0e}"


def faked_name(f: float) -> str:
    return f"faked-{round(f * 100)}pc"


# ---------------------------------------------------------------------------------------------
# Diffusion
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffusionSetting:
    """A model at one input setting, and how to build a job of it for a seed."""

    name: str
    steps: int
    make: Callable[..., StepModel]
    """make(seed, steps=..., scheduler=None|"euler") -> StepModel"""
    denoiser: Callable[[], Any]
    """The module the noise is injected into (and quantised for the int8 impostor)."""
    swap: Callable[[Any], None]
    """Put another denoiser in place (int8); called with the original to restore it."""
    digest: Callable[[npt.NDArray[np.uint8]], bytes]
    tolerance: Sequence[int]


def tiny_sd_setting(size: int = 64, steps: int = 20, guidance: float = 7.5) -> DiffusionSetting:
    import diffusers

    from inference.digests import digest_image
    from inference.models import load_model
    from inference.study.drivers import TINY_SD_CLASSES

    euler_class: Any = diffusers.EulerDiscreteScheduler
    dpm_class: Any = diffusers.DPMSolverMultistepScheduler
    model = load_model("tiny-sd")
    pipeline: Any = model.image_backend._pipeline  # type: ignore[attr-defined]
    scheme = model.manifest.digest_scheme
    tolerance = model.manifest.default_tolerance

    def make(seed: int, *, steps: int = steps, scheduler: str | None = None) -> StepModel:
        classes = {"euler": euler_class, "dpm++": dpm_class}
        chosen = classes[scheduler].from_config(pipeline.scheduler.config) if scheduler else None
        return DiffusersSteps(
            pipeline,
            prompt=TINY_SD_CLASSES[seed % len(TINY_SD_CLASSES)],
            seed=seed,
            steps=steps,
            guidance=guidance,
            width=size,
            height=size,
            scheduler=chosen,
            stateful_ok=scheduler == "dpm++",
        )

    def swap(unet: Any) -> None:
        pipeline.unet = unet

    name = f"tiny-sd-{size}px-{steps}steps" + ("" if guidance == 7.5 else f"-guidance{guidance:g}")
    return DiffusionSetting(
        name,
        steps,
        make,
        lambda: pipeline.unet,
        swap,
        lambda image: digest_image(Image.fromarray(image), scheme),
        tuple(tolerance),
    )


def digits_setting(steps: int = 50) -> DiffusionSetting:
    from inference.digests import digest_image
    from inference.digits.sampling import load_unet, to_image
    from inference.digits.shipped import weights_path
    from inference.tolerances import calibrated

    holder = {"unet": load_unet(weights_path())}
    scheme, tolerance, _ = calibrated("digits", "phash64")

    def make(seed: int, *, steps: int = steps, scheduler: str | None = None) -> StepModel:
        return DigitsSteps(
            holder["unet"],
            digit=seed % 10,
            seed=seed,
            steps=steps,
            scheduler=scheduler or "ddim",
            stateful_ok=scheduler == "dpm++",
        )

    def swap(unet: Any) -> None:
        holder["unet"] = unet

    return DiffusionSetting(
        "digits" if steps == 50 else f"digits-{steps}steps",
        steps,
        make,
        lambda: holder["unet"],
        swap,
        lambda image: digest_image(to_image(image), scheme),
        tolerance.lanes,
    )


@contextlib.contextmanager
def _noise(setting: DiffusionSetting, eps: float, stream: int, replica: int) -> Iterator[None]:
    with injected_noise(setting.denoiser(), eps, [stream], replica):
        yield


def executor_trajectory(
    setting: DiffusionSetting, seed: int, condition: str
) -> tuple[Trajectory, list[int]]:
    """The trajectory an executor under ``condition`` submits, and the steps it faked."""
    eps = IMAGE_CALIBRATION_NOISE
    if condition.startswith("noise-"):
        eps = float(condition.split("-", 1)[1])
    with _noise(setting, eps, seed, 0):
        if condition.startswith("steps-"):
            fewer = max(1, round(setting.steps * int(condition[6:8]) / 100))
            short = run_trajectory(setting.make(seed, steps=fewer))
            stretched = stretched_latents(short.latents, setting.steps)
            return Trajectory(tuple(stretched), short.image), []
        model = setting.make(seed)
        if condition == "euler":
            euler = setting.make(seed, scheduler="euler")
            return euler_to_ddim(euler, run_trajectory(euler)), []
        if condition == "dpm++":
            return run_trajectory(setting.make(seed, scheduler="dpm++")), []
        if condition == "bf16":
            return run_trajectory(Autocast(model)), []
        if condition.startswith("faked-"):
            skipped = faked_steps(seed, setting.steps, int(condition[6:-2]) / 100)
            return lazy_trajectory(model, skipped), skipped
        return run_trajectory(model), []


Lanes = list[list[int]]
"""Per step (or position), the 4 lane distances (64 bits each, lane 0 the most significant) of
two sketches: what the chain compares, since lane j of the compared digest is lane j of
challenged leaf j's sketch (``oracle.chain.audited.compared_digest``)."""


@dataclass
class TrajectoryRecord:
    """One executor trajectory against honest auditors: per design the distance of every step's
    sketch to the first auditor's (256 bits), the same per 64-bit lane against each auditor and
    between the two auditors, and whether the first auditor's decode of the final latent gives a
    digest within the model's tolerance of the executor's. The lane fields are empty in records
    made before they existed."""

    seed: int
    condition: str
    step_distances: dict[str, list[int]]
    faked: list[int]
    decode_distance: list[int]
    decode_match: bool
    seconds: float
    lane_distances: dict[str, Lanes] = field(default_factory=dict)
    """Executor against the first auditor."""
    second_lane_distances: dict[str, Lanes] = field(default_factory=dict)
    """Executor against the second auditor (its own noise stream)."""
    auditor_lane_distances: dict[str, Lanes] = field(default_factory=dict)
    """The first auditor against the second."""


@contextlib.contextmanager
def _denoiser(setting: DiffusionSetting, replacement: Any) -> Iterator[None]:
    if replacement is None:
        yield
        return
    original = setting.denoiser()
    setting.swap(replacement)
    try:
        yield
    finally:
        setting.swap(original)


def audit_trajectory(
    setting: DiffusionSetting,
    seed: int,
    condition: str,
    designs: Sequence[SketchDesign],
    auditor_noise: float,
    executor_denoiser: Any = None,
    auditors: int = 2,
) -> TrajectoryRecord:
    """Run one executor (with ``executor_denoiser`` in place, if given) and recompute each of
    its steps as ``auditors`` honest auditors (1 or 2), each with noise of its own; the first
    auditor also decodes the final latent."""
    from inference.digests import lane_distances

    started = time.perf_counter()
    with _denoiser(setting, executor_denoiser):
        trajectory, faked = executor_trajectory(setting, seed, condition)
    auditor = setting.make(seed)
    arrays = [as_array(latent) for latent in trajectory.latents]
    distances: dict[str, list[int]] = {d.name: [] for d in designs}
    lanes: dict[str, Lanes] = {d.name: [] for d in designs}
    second: dict[str, Lanes] = {d.name: [] for d in designs}
    between: dict[str, Lanes] = {d.name: [] for d in designs}
    for index in range(setting.steps):
        recomputed = []
        for replica in range(AUDITOR_REPLICA, AUDITOR_REPLICA + auditors):
            with _noise(setting, auditor_noise, seed * 4096 + index, replica):
                recomputed.append(
                    as_array(recompute_step(auditor, index, trajectory.latents[index]))
                )
        affine = step_affine(auditor, index, trajectory.latents[index])
        for design in designs:
            claimed = design.sketch_step(arrays[index], arrays[index + 1], affine)
            mine = [design.sketch_step(arrays[index], r, affine) for r in recomputed]
            distances[design.name].append(distance(claimed, mine[0]))
            lanes[design.name].append(list(lane_distances(claimed, mine[0])))
            if len(mine) > 1:
                second[design.name].append(list(lane_distances(claimed, mine[1])))
                between[design.name].append(list(lane_distances(mine[0], mine[1])))
    decoded = auditor.decode(trajectory.latents[-1])
    if auditor_noise > 0:  # the decoder on other hardware: the same relative noise, once
        rng = np.random.default_rng(noise_seed(seed, 7))
        noisy = decoded.astype(np.float64) * (
            1 + auditor_noise * rng.standard_normal(decoded.shape)
        )
        decoded = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    decode_lanes = lane_distances(setting.digest(trajectory.image), setting.digest(decoded))
    match = all(d <= t for d, t in zip(decode_lanes, setting.tolerance, strict=True))
    return TrajectoryRecord(
        seed,
        condition,
        distances,
        faked,
        list(decode_lanes),
        match,
        time.perf_counter() - started,
        lanes,
        second if auditors > 1 else {},
        between if auditors > 1 else {},
    )


def image_conditions() -> list[str]:
    return [
        *(honest_name(eps) for eps in IMAGE_NOISE_LEVELS),
        *WHOLE_IMAGE_IMPOSTORS,
        *OTHER_IMAGE_CONDITIONS,
        *(faked_name(f) for f in FAKED_FRACTIONS),
    ]


def run_diffusion(
    setting: DiffusionSetting,
    seeds: Sequence[int],
    conditions: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[TrajectoryRecord]:
    """Every condition x seed; the auditor runs at the noise of an honest condition, else at
    IMAGE_CALIBRATION_NOISE (executor and auditors alike). int8 puts one quantised copy of the
    denoiser in for its executors."""
    designs = [DESIGNS[name] for name in STEP_DESIGNS]
    records = []
    for condition in conditions or image_conditions():
        auditor_noise = (
            float(condition.split("-", 1)[1])
            if condition.startswith("noise-")
            else IMAGE_CALIBRATION_NOISE
        )
        replacement = quantised(setting.denoiser()) if condition == "int8" else None
        started = time.perf_counter()
        for seed in seeds:
            records.append(
                audit_trajectory(setting, seed, condition, designs, auditor_noise, replacement)
            )
        if progress is not None:
            progress(
                f"{setting.name} {condition}: {len(seeds)} seeds, "
                f"{time.perf_counter() - started:.1f} s"
            )
    return records
