"""The audited mode's study: how far honest hardware noise moves a recomputed step or a prefill,
the sketch tolerance and logit margin that follow, and what that catches.

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
prediction. Text impostors: the same model cut to half of its layers (another, cheaper model of
the same tokenizer), int8 weights, and sampling at temperature 1 instead of greedy decoding.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image

from inference.audit.challenge import challenge_indices, detection_probability
from inference.audit.diffusion import (
    DiffusersSteps,
    DigitsSteps,
    StepModel,
    Trajectory,
    as_array,
    recompute_step,
    run_trajectory,
)
from inference.audit.sketch import DESIGNS, SketchDesign, distance
from inference.audit.text import TextRun, generate_with_hidden, prefill, token_gaps
from inference.study.noise import injected_noise, noise_seed, quantised

NOISE_LEVELS: tuple[float, ...] = (1e-4, 1e-3, 3e-3)
CALIBRATION_NOISE = 1e-3
"""The noise the tolerance and margin are set at (the noise study's TARGET_NOISE)."""
TOLERANCE_SLACK = 2
"""Bits added to the largest honest distance seen in calibration (the noise study's rule)."""
MARGIN_FACTOR = 2.0
"""The logit margin is this times the largest honest gap seen in calibration."""
MARGIN_FLOOR = 0.05
FAKED_FRACTIONS: tuple[float, ...] = (0.1, 0.25, 0.5)
CHALLENGE_SIZES: tuple[int, ...] = (1, 2, 4, 8)
STEP_DESIGNS = ("sign-state", "sign-update", "q0.1-update", "q0.03-update", "q0.01-update")
HIDDEN_DESIGNS = ("sign-state", "q0.03-state", "q0.01-state", "q0.003-state")
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


def tiny_sd_setting(size: int = 64, steps: int = 20) -> DiffusionSetting:
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
            guidance=7.5,
            width=size,
            height=size,
            scheduler=chosen,
            stateful_ok=scheduler == "dpm++",
        )

    def swap(unet: Any) -> None:
        pipeline.unet = unet

    return DiffusionSetting(
        f"tiny-sd-{size}px-{steps}steps",
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


class _Autocast:
    """A StepModel whose denoiser runs under bfloat16 autocast (the bf16 impostor)."""

    def __init__(self, inner: StepModel) -> None:
        self.inner = inner
        self.steps = inner.steps

    def initial_latent(self) -> torch.Tensor:
        return self.inner.initial_latent()

    def scheduler(self) -> Any:
        return self.inner.scheduler()

    def predict(self, index: int, latent: torch.Tensor, scheduler: Any) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.inner.predict(index, latent, scheduler).float()

    def advance(
        self, index: int, latent: torch.Tensor, prediction: torch.Tensor, scheduler: Any
    ) -> torch.Tensor:
        return self.inner.advance(index, latent, prediction, scheduler)

    def decode(self, latent: torch.Tensor) -> npt.NDArray[np.uint8]:
        return self.inner.decode(latent)


def resample(latents: Sequence[torch.Tensor], steps: int) -> list[torch.Tensor]:
    """An m-step trajectory stretched onto ``steps`` claimed steps by linear interpolation
    (what an executor that ran fewer steps must submit to fill the evidence tree)."""
    m = len(latents) - 1
    out = []
    for j in range(steps + 1):
        position = j * m / steps
        low = min(math.floor(position), m)
        high = min(low + 1, m)
        w = position - low
        out.append(latents[low] * (1 - w) + latents[high] * w if w > 0 else latents[low])
    return out


def euler_to_ddim(model: StepModel, trajectory: Trajectory) -> Trajectory:
    """Euler's latents live at sigma scale; divide by sqrt(sigma^2 + 1) to claim DDIM's."""
    sigmas = model.scheduler().sigmas
    latents = tuple(
        latent / float(torch.sqrt(sigmas[j] ** 2 + 1))
        for j, latent in enumerate(trajectory.latents)
    )
    return Trajectory(latents, trajectory.image)


def faked_steps(seed: int, steps: int, fraction: float) -> list[int]:
    """Which steps a lazy executor skips (never step 0, which has no prediction to reuse)."""
    count = max(1, round(fraction * steps))
    material = sha256(b"genoracle.study.audit.faked" + seed.to_bytes(8, "big")).digest()
    return [i + 1 for i in challenge_indices(material, steps - 1, count)]


@contextlib.contextmanager
def _noise(setting: DiffusionSetting, eps: float, stream: int, replica: int) -> Iterator[None]:
    with injected_noise(setting.denoiser(), eps, [stream], replica):
        yield


def executor_trajectory(
    setting: DiffusionSetting, seed: int, condition: str
) -> tuple[Trajectory, list[int]]:
    """The trajectory an executor under ``condition`` submits, and the steps it faked."""
    eps = CALIBRATION_NOISE
    if condition.startswith("noise-"):
        eps = float(condition.split("-", 1)[1])
    with _noise(setting, eps, seed, 0):
        if condition.startswith("steps-"):
            fewer = max(1, round(setting.steps * int(condition[6:8]) / 100))
            short = run_trajectory(setting.make(seed, steps=fewer))
            return Trajectory(tuple(resample(short.latents, setting.steps)), short.image), []
        model = setting.make(seed)
        if condition == "euler":
            euler = setting.make(seed, scheduler="euler")
            return euler_to_ddim(euler, run_trajectory(euler)), []
        if condition == "dpm++":
            return run_trajectory(setting.make(seed, scheduler="dpm++")), []
        if condition == "bf16":
            return run_trajectory(_Autocast(model)), []
        if condition.startswith("faked-"):
            skipped = faked_steps(seed, setting.steps, int(condition[6:-2]) / 100)
            return run_trajectory(model, reuse=skipped), skipped
        return run_trajectory(model), []


@dataclass
class TrajectoryRecord:
    """One executor trajectory against an honest auditor: per design the distance of every
    step's sketch, and whether the auditor's decode of the final latent gives a digest within
    the model's tolerance of the executor's."""

    seed: int
    condition: str
    step_distances: dict[str, list[int]]
    faked: list[int]
    decode_distance: list[int]
    decode_match: bool
    seconds: float


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
) -> TrajectoryRecord:
    """Run one executor (with ``executor_denoiser`` in place, if given) and recompute each of
    its steps as an honest auditor with noise of its own."""
    from inference.digests import lane_distances

    started = time.perf_counter()
    with _denoiser(setting, executor_denoiser):
        trajectory, faked = executor_trajectory(setting, seed, condition)
    auditor = setting.make(seed)
    arrays = [as_array(latent) for latent in trajectory.latents]
    distances: dict[str, list[int]] = {d.name: [] for d in designs}
    for index in range(setting.steps):
        with _noise(setting, auditor_noise, seed * 4096 + index, AUDITOR_REPLICA):
            recomputed = as_array(recompute_step(auditor, index, trajectory.latents[index]))
        for design in designs:
            claimed = design.sketch_step(arrays[index], arrays[index + 1])
            mine = design.sketch_step(arrays[index], recomputed)
            distances[design.name].append(distance(claimed, mine))
    decoded = auditor.decode(trajectory.latents[-1])
    if auditor_noise > 0:  # the decoder on other hardware: the same relative noise, once
        rng = np.random.default_rng(noise_seed(seed, 7))
        noisy = decoded.astype(np.float64) * (
            1 + auditor_noise * rng.standard_normal(decoded.shape)
        )
        decoded = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    lanes = lane_distances(setting.digest(trajectory.image), setting.digest(decoded))
    match = all(d <= t for d, t in zip(lanes, setting.tolerance, strict=True))
    return TrajectoryRecord(
        seed, condition, distances, faked, list(lanes), match, time.perf_counter() - started
    )


def image_conditions() -> list[str]:
    return [
        *(honest_name(eps) for eps in NOISE_LEVELS),
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
    CALIBRATION_NOISE. int8 puts one quantised copy of the denoiser in for its executors."""
    designs = [DESIGNS[name] for name in STEP_DESIGNS]
    records = []
    for condition in conditions or image_conditions():
        auditor_noise = (
            float(condition.split("-", 1)[1])
            if condition.startswith("noise-")
            else CALIBRATION_NOISE
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


def _split(records: Sequence[TrajectoryRecord], odd: bool) -> list[TrajectoryRecord]:
    return [r for r in records if (r.seed % 2 == 1) == odd]


TOLERANCE_KINDS = ("fixed", "per-step")
"""fixed: one threshold for every step; per-step: one per step index (n bytes, one storage slot
for n <= 32), since honest noise moves some steps (the first ones, the last) far more."""
PER_STEP_FACTOR = 1.25


def step_tolerances(records: Sequence[TrajectoryRecord], design: str, kind: str) -> list[int]:
    """Thresholds per step index from the calibration (odd) seeds at CALIBRATION_NOISE: fixed,
    the largest honest distance + TOLERANCE_SLACK; per-step, PER_STEP_FACTOR x the largest at
    that step (or its neighbours) + TOLERANCE_SLACK."""
    calibration = np.asarray(
        [
            r.step_distances[design]
            for r in _split(records, odd=True)
            if r.condition == honest_name(CALIBRATION_NOISE)
        ]
    )
    if calibration.size == 0:
        raise ValueError(f"no honest calibration trajectories at noise {CALIBRATION_NOISE:g}")
    if kind == "fixed":
        return [min(255, int(calibration.max()) + TOLERANCE_SLACK)] * calibration.shape[1]
    per_step = calibration.max(axis=0)
    padded = np.pad(per_step, 1, mode="edge")
    local = np.maximum(np.maximum(padded[:-2], padded[1:-1]), padded[2:])
    return [min(255, math.ceil(PER_STEP_FACTOR * v) + TOLERANCE_SLACK) for v in local]


def _failing(record: TrajectoryRecord, design: str, tolerances: Sequence[int]) -> Any:
    return np.asarray(record.step_distances[design]) > np.asarray(tolerances)


def challenge_detection(
    records: Sequence[TrajectoryRecord],
    design: str,
    tolerances: Sequence[int],
    k: int,
    draws: int = 200,
) -> float:
    """Share of (trajectory, challenge) pairs in which a challenged step fails: the measured
    per-task detection with k challenged steps (``draws`` challenges per trajectory)."""
    caught = 0
    total = 0
    for record in records:
        failing = _failing(record, design, tolerances)
        for draw in range(draws):
            seed = sha256(f"challenge/{record.seed}/{draw}".encode()).digest()
            caught += bool(failing[challenge_indices(seed, len(failing), k)].any())
            total += 1
    return caught / total if total else float("nan")


def step_rate(records: Sequence[TrajectoryRecord], design: str, tolerances: Sequence[int]) -> float:
    """Share of steps whose distance exceeds their threshold."""
    if not records:
        return float("nan")
    return float(np.mean([_failing(r, design, tolerances) for r in records]))


def analyse_diffusion(records: Sequence[TrajectoryRecord]) -> dict[str, Any]:
    """Per design and tolerance kind: thresholds from odd seeds, then on even seeds honest step
    acceptance per noise level and per-step detection per impostor; the chosen candidate (honest
    >= 99.9 % per step at the calibration noise, then the best weakest whole-model detection,
    then the mean); its task-level figures against the challenge size k."""
    judged = _split(records, odd=False)
    by_condition: dict[str, list[TrajectoryRecord]] = {}
    for record in judged:
        by_condition.setdefault(record.condition, []).append(record)
    candidates: dict[str, Any] = {}
    for name in STEP_DESIGNS:
        for kind in TOLERANCE_KINDS:
            tolerances = step_tolerances(records, name, kind)
            faked = {}
            for f in FAKED_FRACTIONS:
                rows = by_condition.get(faked_name(f), [])
                caught = [bool(_failing(r, name, tolerances)[i]) for r in rows for i in r.faked]
                faked[faked_name(f)] = float(np.mean(caught)) if caught else float("nan")
            candidates[f"{name}/{kind}"] = {
                "design": name,
                "kind": kind,
                "tolerances": tolerances,
                "honest_step_accept": {
                    honest_name(eps): 1.0
                    - step_rate(by_condition.get(honest_name(eps), []), name, tolerances)
                    for eps in NOISE_LEVELS
                },
                "step_detection": {
                    c: step_rate(by_condition.get(c, []), name, tolerances)
                    for c in (*WHOLE_IMAGE_IMPOSTORS, *OTHER_IMAGE_CONDITIONS)
                },
                "faked_step_detection": faked,
            }

    def score(key: str) -> tuple[bool, float, float]:
        entry = candidates[key]
        meets = entry["honest_step_accept"][honest_name(CALIBRATION_NOISE)] >= 0.999
        whole = [entry["step_detection"][c] for c in WHOLE_IMAGE_IMPOSTORS]
        detections = [*whole, *entry["faked_step_detection"].values()]
        return meets, float(np.nanmin(whole)), float(np.nanmean(detections))

    chosen = max(candidates, key=score)
    design = candidates[chosen]["design"]
    tolerances = candidates[chosen]["tolerances"]
    steps = len(tolerances)
    challenge: dict[str, Any] = {}
    for f in FAKED_FRACTIONS:
        rows = by_condition.get(faked_name(f), [])
        challenge[faked_name(f)] = {
            str(k): {
                "measured": challenge_detection(rows, design, tolerances, k),
                "analytic": detection_probability(f, k),
                "without_replacement": detection_probability(f, k, steps - 1),
            }
            for k in CHALLENGE_SIZES
        }
    return {
        "seeds_calibration": sorted({r.seed for r in _split(records, odd=True)}),
        "seeds_judged": sorted({r.seed for r in judged}),
        "steps": steps,
        "candidates": candidates,
        "chosen": chosen,
        "design": design,
        "tolerances": tolerances,
        "challenge_detection": challenge,
        "honest_task_accept": {
            honest_name(eps): {
                str(k): 1.0
                - challenge_detection(by_condition.get(honest_name(eps), []), design, tolerances, k)
                for k in CHALLENGE_SIZES
            }
            for eps in NOISE_LEVELS
        },
        "task_detection": {
            c: {
                str(k): challenge_detection(by_condition.get(c, []), design, tolerances, k)
                for k in CHALLENGE_SIZES
            }
            for c in (*WHOLE_IMAGE_IMPOSTORS, *OTHER_IMAGE_CONDITIONS)
        },
        "decode_match": {
            c: float(np.mean([r.decode_match for r in rows])) for c, rows in by_condition.items()
        },
        "honest_max_by_step": np.asarray(
            [
                r.step_distances[design]
                for r in records
                if r.condition == honest_name(CALIBRATION_NOISE)
            ]
        )
        .max(axis=0)
        .tolist(),
    }


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def layer_noise(model: Any, eps: float, stream: int, replica: int) -> Iterator[None]:
    """Relative noise on every decoder layer's output, one generator per (stream, replica)."""
    if eps <= 0:
        yield
        return
    generator = torch.Generator().manual_seed(noise_seed(stream, replica))

    def hook(_module: Any, _inputs: Any, output: Any) -> Any:
        tensor = output[0] if isinstance(output, tuple) else output
        z = torch.randn(tuple(tensor.shape), generator=generator).to(tensor.dtype)
        noisy = tensor * (1.0 + eps * z)
        return (noisy, *output[1:]) if isinstance(output, tuple) else noisy

    handles = [layer.register_forward_hook(hook) for layer in model.model.layers]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def half_layers(model: Any) -> Iterator[None]:
    """The same model run with only its first half of decoder layers (a cheaper model that
    shares the tokenizer)."""
    full = model.config.num_hidden_layers
    model.config.num_hidden_layers = max(1, full // 2)
    try:
        yield
    finally:
        model.config.num_hidden_layers = full


@dataclass
class TextRecord:
    prompt: int
    condition: str
    tokens: int
    max_gap: float
    hidden_distances: dict[str, list[int]] = field(default_factory=dict)
    seconds: float = 0.0


def text_conditions() -> list[str]:
    return [*(honest_name(eps) for eps in NOISE_LEVELS), *TEXT_IMPOSTORS]


def run_text(
    backend: Any,
    prompts: Sequence[str],
    max_new_tokens: int,
    conditions: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[TextRecord]:
    """Every condition x prompt: the executor generates, an honest auditor (own noise) prefills;
    the record keeps the largest token gap and per design the hidden-state sketch distances."""
    from inference.specs import TextInput

    model = backend._model
    designs = [DESIGNS[name] for name in HIDDEN_DESIGNS]
    int8_model: Any = None
    records = []
    for condition in conditions or text_conditions():
        started = time.perf_counter()
        for index, prompt in enumerate(prompts):
            began = time.perf_counter()
            prompt_ids = backend.prompt_ids(TextInput(prompt=prompt))
            eps = (
                float(condition.split("-", 1)[1])
                if condition.startswith("noise-")
                else (CALIBRATION_NOISE)
            )
            executor = model
            if condition == "int8":
                int8_model = int8_model or quantised(model)
                executor = int8_model
            scope = half_layers(model) if condition == "half-layers" else contextlib.nullcontext()
            with layer_noise(executor, eps, index, 0), scope:
                run: TextRun = generate_with_hidden(
                    executor,
                    prompt_ids,
                    max_new_tokens,
                    eos=backend._eos,
                    temperature=1.0 if condition == "sampling" else 0.0,
                    generator=torch.Generator().manual_seed(index),
                )
            with layer_noise(model, eps, index + 10_000, AUDITOR_REPLICA):
                audit = prefill(model, prompt_ids, run.tokens)
            gaps = token_gaps(audit.logits, run.tokens)
            hidden = {
                d.name: [
                    distance(d.sketch(a), d.sketch(b))
                    for a, b in zip(run.hidden, audit.hidden, strict=True)
                ]
                for d in designs
            }
            records.append(
                TextRecord(
                    index,
                    condition,
                    len(run.tokens),
                    float(gaps.max()),
                    hidden,
                    time.perf_counter() - began,
                )
            )
        if progress is not None:
            progress(
                f"text {condition}: {len(prompts)} prompts, {time.perf_counter() - started:.1f} s"
            )
    return records


def analyse_text(records: Sequence[TextRecord]) -> dict[str, Any]:
    """Margin and sketch tolerance from odd prompts at CALIBRATION_NOISE; on even prompts the
    honest acceptance per noise level and each impostor's detection (margin check, and margin or
    sketch at one challenged position)."""
    calibration = [r for r in records if r.prompt % 2 == 1]
    judged = [r for r in records if r.prompt % 2 == 0]
    honest_calibration = [r for r in calibration if r.condition == honest_name(CALIBRATION_NOISE)]
    largest = max((r.max_gap for r in honest_calibration), default=0.0)
    margin = max(MARGIN_FLOOR, MARGIN_FACTOR * largest)
    tolerances = {
        name: min(
            255,
            max((d for r in honest_calibration for d in r.hidden_distances[name]), default=0)
            + TOLERANCE_SLACK,
        )
        for name in HIDDEN_DESIGNS
    }
    by_condition: dict[str, list[TextRecord]] = {}
    for record in judged:
        by_condition.setdefault(record.condition, []).append(record)

    def sketch_fail(record: TextRecord, name: str) -> float:
        """Chance that one challenged position's sketch is out of tolerance."""
        values = np.asarray(record.hidden_distances[name]) > tolerances[name]
        return float(values.mean()) if values.size else 0.0

    per_design: dict[str, dict[str, Any]] = {}
    for name in HIDDEN_DESIGNS:
        per_design[name] = {
            "tolerance": tolerances[name],
            "honest_position_accept": {
                c: 1.0 - float(np.mean([sketch_fail(r, name) for r in by_condition.get(c, [])]))
                for c in by_condition
                if c.startswith("noise-")
            },
            "impostor_position_detection": {
                c: float(np.mean([sketch_fail(r, name) for r in by_condition.get(c, [])]))
                for c in TEXT_IMPOSTORS
                if c in by_condition
            },
        }

    def design_score(name: str) -> tuple[bool, float]:
        entry = per_design[name]
        ok = entry["honest_position_accept"].get(honest_name(CALIBRATION_NOISE), 0) >= 0.999
        return ok, float(np.mean(list(entry["impostor_position_detection"].values()) or [0]))

    chosen = max(HIDDEN_DESIGNS, key=design_score)
    margin_accept = {
        c: float(np.mean([r.max_gap <= margin for r in rows])) for c, rows in by_condition.items()
    }
    # A task is rejected when a token is outside the margin, or the one challenged position's
    # sketch is out of tolerance (averaged over the position drawn).
    combined = {
        c: float(np.mean([1.0 if r.max_gap > margin else sketch_fail(r, chosen) for r in rows]))
        for c, rows in by_condition.items()
    }
    return {
        "prompts_calibration": sorted({r.prompt for r in calibration}),
        "prompts_judged": sorted({r.prompt for r in judged}),
        "largest_honest_gap_calibration": largest,
        "margin": margin,
        "margin_accept": margin_accept,
        "designs": per_design,
        "chosen": chosen,
        "tolerance": tolerances[chosen],
        "task_reject_k1": combined,
        "tokens_median": {
            c: float(np.median([r.tokens for r in rows])) for c, rows in by_condition.items()
        },
    }
