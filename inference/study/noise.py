"""The study's model of honest hardware noise, and the cheaper computations it must tell apart.

Honest hardware (another GPU model, another kernel library, another reduction order) changes the
low bits of every network evaluation. The study models it explicitly: relative Gaussian noise of
size ``eps`` multiplied into the denoiser's output at every step, ``out * (1 + eps * z)``, with
``z`` drawn from a CPU generator of its own per sample and replica (so a sample's noise does not
depend on its batch). Several independent replicas at one ``eps`` are several honest verifiers.

Impostors are what a lazy operator could run instead: 10 % and 20 % fewer steps, another
scheduler, bfloat16 autocast, int8 dynamically quantised weights (``torch.ao``'s dynamic
quantisation of every ``Linear``), and another seed of the same class (no generation needed: it is
another cell's reference sample, compared at analysis time).

Everything runs in-process (no environment change is needed), one condition after the other,
and each condition's 8-bit samples are stored as one ``.npz`` under the study store, so a re-run
generates only what is missing.
"""

from __future__ import annotations

import contextlib
import copy
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from inference.digits.sampling import SCHEDULERS as DIGITS_SCHEDULERS
from inference.hardware_noise import injected_noise

NoiseRole = Literal["reference", "honest", "impostor"]

NOISE_LEVELS: tuple[float, ...] = (1e-4, 1e-3, 3e-3)
"""Relative noise sizes the study models (FACTS: 1e-2 changes a third of the pixels, as much as
the cheaper computations do, so it is past every boundary and left out)."""
REPLICAS = 4
"""Independent honest verifiers per noise level: 6 pairs and 4 triples per cell."""
TARGET_NOISE = 1e-3
"""The noise level the built-in tolerances are calibrated at (see the report's noise section)."""
OTHER_SEED = "other-seed"
DEFAULT_SCHEDULER = "default"
"""The scheduler the manifest pins (an input's "default"); the study's settings may name another."""
DEFAULT_GUIDANCE = 7.5
"""The guidance scale of an image input that names none (inference.specs.ImageInput)."""


@dataclass(frozen=True)
class Condition:
    """One way of running a model: the reference, a noisy honest replica, or an impostor."""

    name: str
    role: NoiseRole
    description: str
    noise: float = 0.0
    replica: int = 0
    steps_fraction: float = 1.0
    scheduler: str | None = None
    dtype: str = "float32"
    int8: bool = False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def noise_name(eps: float, replica: int) -> str:
    return f"noise-{eps:.0e}-r{replica}"


REFERENCE = Condition("reference", "reference", "float32, the model's own steps and scheduler")
HONEST: tuple[Condition, ...] = tuple(
    Condition(
        noise_name(eps, r),
        "honest",
        f"relative noise {eps:g} on the denoiser's output at every step (replica {r})",
        noise=eps,
        replica=r,
    )
    for eps in NOISE_LEVELS
    for r in range(REPLICAS)
)
IMPOSTORS: tuple[Condition, ...] = (
    Condition("steps-90pc", "impostor", "10 % fewer steps", steps_fraction=0.9),
    Condition("steps-80pc", "impostor", "20 % fewer steps", steps_fraction=0.8),
    Condition("euler", "impostor", "Euler scheduler, same step count", scheduler="euler"),
    Condition("bf16", "impostor", "bfloat16 autocast instead of float32", dtype="bfloat16"),
    Condition("int8", "impostor", "int8 dynamically quantised Linear weights", int8=True),
)
CONDITIONS: dict[str, Condition] = {c.name: c for c in (REFERENCE, *HONEST, *IMPOSTORS)}
IMPOSTOR_NAMES: tuple[str, ...] = (*(c.name for c in IMPOSTORS), OTHER_SEED)


def honest_names(eps: float) -> list[str]:
    """The replicas of one noise level."""
    return [noise_name(eps, r) for r in range(REPLICAS)]


def quantised(module: Any) -> Any:
    """A copy of the module with int8 dynamically quantised Linear layers."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(  # type: ignore[no-untyped-call]
            copy.deepcopy(module), {torch.nn.Linear}, dtype=torch.qint8
        )


def scaled_steps(steps: int, fraction: float) -> int:
    return max(1, round(steps * fraction))


class NoiseDriver:
    """A study model run under a Condition: class indices and seeds in, uint8 samples out."""

    name: str
    reference_steps: int

    def generate(
        self, condition: Condition, classes: Sequence[int], seeds: Sequence[int]
    ) -> npt.NDArray[np.uint8]:
        raise NotImplementedError


class DigitsNoiseDriver(NoiseDriver):
    name = "digits"
    reference_steps = 50

    def __init__(self, device: str = "cpu", steps: int = 50, scheduler: str = "ddim") -> None:
        from inference.digits.sampling import load_unet
        from inference.digits.shipped import weights_path

        self.device = device
        self.reference_steps = steps
        self.scheduler = scheduler
        self.unet = load_unet(weights_path()).to(device)
        self._int8: Any = None

    def generate(
        self, condition: Condition, classes: Sequence[int], seeds: Sequence[int]
    ) -> npt.NDArray[np.uint8]:
        from inference.digits.sampling import sample_batch

        unet = self.unet
        if condition.int8:
            self._int8 = self._int8 or quantised(self.unet)
            unet = self._int8
        with injected_noise(unet, condition.noise, seeds, condition.replica):
            return sample_batch(
                unet,
                classes,
                seeds,
                steps=scaled_steps(self.reference_steps, condition.steps_fraction),
                scheduler=condition.scheduler or self.scheduler,
                dtype=condition.dtype,
                device=self.device,
            )


class TinySDNoiseDriver(NoiseDriver):
    """tiny-sd through the node's own backend, at a given size, step count, scheduler (a name
    of ``inference.specs.SCHEDULERS``) and guidance scale."""

    name = "tiny-sd"

    def __init__(
        self,
        size: int = 64,
        steps: int = 10,
        device: str = "cpu",
        *,
        scheduler: str = DEFAULT_SCHEDULER,
        guidance: float = DEFAULT_GUIDANCE,
    ) -> None:
        import os

        from inference.determinism import DEVICE_ENV
        from inference.models import load_model

        saved = os.environ.get(DEVICE_ENV)
        os.environ[DEVICE_ENV] = device
        try:
            self.model = load_model("tiny-sd")
        finally:
            if saved is None:
                os.environ.pop(DEVICE_ENV, None)
            else:
                os.environ[DEVICE_ENV] = saved
        self.device = device
        self.size = size
        self.reference_steps = steps
        self.scheduler = scheduler
        self.guidance = guidance
        self._int8: Any = None

    def generate(
        self, condition: Condition, classes: Sequence[int], seeds: Sequence[int]
    ) -> npt.NDArray[np.uint8]:
        import torch

        from inference.specs import ImageInput
        from inference.study.drivers import TINY_SD_CLASSES

        backend: Any = self.model.image_backend
        pipeline = backend._pipeline
        specs = [
            ImageInput(
                prompt=TINY_SD_CLASSES[c],
                seed=s,
                steps=scaled_steps(self.reference_steps, condition.steps_fraction),
                scheduler=condition.scheduler or self.scheduler,
                width=self.size,
                height=self.size,
                guidance=self.guidance,
            )
            for c, s in zip(classes, seeds, strict=True)
        ]
        original = pipeline.unet
        if condition.int8:
            self._int8 = self._int8 or quantised(original)
            pipeline.unet = self._int8
        lower = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(condition.dtype)
        autocast = (
            torch.autocast(torch.device(self.device).type, dtype=lower)
            if lower is not None
            else contextlib.nullcontext()
        )
        try:
            with (
                injected_noise(pipeline.unet, condition.noise, seeds, condition.replica),
                autocast,
            ):
                images = backend.generate_images(specs, list(seeds))
        finally:
            pipeline.unet = original
        return np.stack([np.asarray(image.convert("RGB"), dtype=np.uint8) for image in images])


DEFAULT_STEPS = {"digits": 50, "tiny-sd": 10}
"""Each study model's own step count (its manifest default)."""


def open_noise_driver(
    model: str,
    size: int = 64,
    steps: int | None = None,
    device: str = "cpu",
    *,
    scheduler: str = DEFAULT_SCHEDULER,
    guidance: float = DEFAULT_GUIDANCE,
) -> NoiseDriver:
    if model == "digits":
        if guidance != DEFAULT_GUIDANCE:
            raise ValueError("Digits-Gen has no guidance")
        if scheduler not in (DEFAULT_SCHEDULER, *DIGITS_SCHEDULERS):
            raise ValueError(
                f"Digits-Gen samples with {', '.join(DIGITS_SCHEDULERS)}, not {scheduler!r}"
            )
        return DigitsNoiseDriver(
            device,
            steps or DEFAULT_STEPS[model],
            "ddim" if scheduler == DEFAULT_SCHEDULER else scheduler,
        )
    if model == "tiny-sd":
        return TinySDNoiseDriver(
            size, steps or DEFAULT_STEPS[model], device, scheduler=scheduler, guidance=guidance
        )
    raise ValueError(f"unknown noise-study model {model!r}; known: digits, tiny-sd")


def setting_name(
    model: str,
    size: int = 64,
    steps: int | None = None,
    *,
    scheduler: str = DEFAULT_SCHEDULER,
    guidance: float = DEFAULT_GUIDANCE,
) -> str:
    """The store folder of a model at one input setting (Digits-Gen: its steps if not its own,
    then its scheduler if not DDIM;
        tiny-sd: size and steps, then the scheduler and the guidance where not the defaults, as in
        "tiny-sd-64px-10steps-euler_a" or "tiny-sd-64px-10steps-guidance0")."""
    steps = steps or DEFAULT_STEPS.get(model, 10)
    if model == "digits":
        name = model if steps == DEFAULT_STEPS[model] else f"{model}-{steps}steps"
        return name if scheduler in (DEFAULT_SCHEDULER, "ddim") else f"{name}-{scheduler}"
    name = f"{model}-{size}px-{steps}steps"
    if scheduler != DEFAULT_SCHEDULER:
        name += f"-{scheduler}"
    if guidance != DEFAULT_GUIDANCE:
        name += f"-guidance{guidance:g}"
    return name


@dataclass(frozen=True)
class ConditionSamples:
    classes: npt.NDArray[np.int64]
    seeds: npt.NDArray[np.int64]
    images: npt.NDArray[np.uint8]


def load_condition(folder: Path, name: str) -> ConditionSamples:
    with np.load(folder / f"{name}.npz") as data:
        return ConditionSamples(data["classes"], data["seeds"], data["images"])


def run_noise_study(
    store_root: Path,
    model: str,
    classes: Sequence[int],
    seeds: Sequence[int],
    *,
    conditions: Sequence[Condition] | None = None,
    size: int = 64,
    steps: int | None = None,
    scheduler: str = DEFAULT_SCHEDULER,
    guidance: float = DEFAULT_GUIDANCE,
    batch_size: int = 50,
    progress: Any = None,
) -> Path:
    """Generate every condition over the classes x seeds grid (only what is not stored yet);
    returns the folder holding one ``<condition>.npz`` per condition."""
    import torch

    folder = (
        store_root
        / "noise"
        / setting_name(model, size, steps, scheduler=scheduler, guidance=guidance)
    )
    folder.mkdir(parents=True, exist_ok=True)
    cells = [(c, s) for s in seeds for c in classes]
    wanted = list(CONDITIONS.values()) if conditions is None else list(conditions)
    driver: NoiseDriver | None = None
    for condition in wanted:
        path = folder / f"{condition.name}.npz"
        stored = load_condition(folder, condition.name) if path.is_file() else None
        have = (
            set(zip(stored.classes.tolist(), stored.seeds.tolist(), strict=True))
            if stored is not None
            else set()
        )
        missing = [cell for cell in cells if cell not in have]
        if not missing:
            continue
        driver = driver or open_noise_driver(
            model, size, steps, scheduler=scheduler, guidance=guidance
        )
        started = time.monotonic()
        parts = [stored.images] if stored is not None else []
        with torch.inference_mode():
            for offset in range(0, len(missing), batch_size):
                batch = missing[offset : offset + batch_size]
                parts.append(
                    driver.generate(condition, [c for c, _ in batch], [s for _, s in batch])
                )
        empty = np.zeros(0, dtype=np.int64)
        kept = [stored.classes, stored.seeds] if stored is not None else [empty, empty]
        staging = folder / f".{condition.name}.tmp.npz"
        np.savez_compressed(
            staging,
            classes=np.concatenate([kept[0], [c for c, _ in missing]]).astype(np.int64),
            seeds=np.concatenate([kept[1], [s for _, s in missing]]).astype(np.int64),
            images=np.concatenate(parts),
        )
        staging.replace(path)
        if progress is not None:
            progress(condition.name, len(missing), time.monotonic() - started)
    return folder
