"""Digits-Gen behind the inference package's image-backend interface, and its model builder.

The registry builds the model folder with `build_digits` (a copy of the shipped weights plus a
manifest) and runs it through `DigitsGenBackend`, registered under `PIPELINE_CLASS`.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from inference.backends import register_backend
from inference.compute_budget import DiffusionBudget
from inference.determinism import default_device
from inference.digits.model import SCHEDULER_CONFIG, UNET_CONFIG
from inference.digits.sampling import (
    SCHEDULERS,
    DigitsPromptError,
    class_from_prompt,
    load_unet,
    make_scheduler,
    sample_batch,
    to_image,
)
from inference.digits.shipped import (
    OUTPUT_SIZE,
    REFERENCE_SCHEDULER,
    REFERENCE_STEPS,
    WEIGHTS_FILE,
    training_record,
    weights_path,
)
from inference.errors import InvalidInputError
from inference.manifest import ModelManifest, create_manifest
from inference.specs import ImageInput
from inference.tolerances import calibrated, calibrated_input_tolerance

PIPELINE_CLASS = "inference.digits.DigitsGen"
DEFAULT_SCHEME = "phash64+sample192"
# Measured with `make bench-inference` (one torch thread): the size is fixed (64 latent pixels),
# so a UNet call is 64 + 448 units whatever the input, and there is no decoder. Slowest rate
# over 10-150 steps: 27,686 units per CPU second.
DIGITS_MEASURED_UNITS_PER_S = 27_000
DIGITS_BUDGET = DiffusionBudget.from_measurement(
    DIGITS_MEASURED_UNITS_PER_S, evaluation_overhead=448
)


class DigitsGenBackend:
    """Class-conditional digits: the prompt names the digit, the seed picks the drawing."""

    def __init__(self, folder: Path, device: str = "cpu") -> None:
        self.device = device
        self._unet = load_unet(folder / WEIGHTS_FILE).to(device)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path, manifest: ModelManifest) -> DigitsGenBackend:
        return cls(folder, default_device())

    def validate(self, spec: ImageInput) -> None:
        """Reject what this model cannot draw instead of silently drawing something else."""
        try:
            class_from_prompt(spec.prompt)
        except DigitsPromptError as exc:
            raise InvalidInputError(str(exc)) from exc
        if spec.negative_prompt:
            raise InvalidInputError("Digits-Gen has no negative prompt; leave it empty")
        if (spec.width, spec.height) != (OUTPUT_SIZE, OUTPUT_SIZE):
            raise InvalidInputError(
                f"Digits-Gen draws {OUTPUT_SIZE}x{OUTPUT_SIZE} images, "
                f"got {spec.width}x{spec.height}"
            )
        if spec.scheduler != "default" and spec.scheduler not in SCHEDULERS:
            raise InvalidInputError(
                f"scheduler {spec.scheduler!r} is not available for Digits-Gen; "
                f"choose one of {', '.join(SCHEDULERS)}"
            )

    def denoiser_evaluations(self, spec: ImageInput) -> int:
        """One UNet call per timestep of the sampling scheduler; there is no guidance."""
        self.validate(spec)
        return len(make_scheduler(self._scheduler_name(spec), spec.steps).timesteps)

    @staticmethod
    def _scheduler_name(spec: ImageInput) -> str:
        return REFERENCE_SCHEDULER if spec.scheduler == "default" else spec.scheduler

    def generate_images(
        self, specs: Sequence[ImageInput], seeds: Sequence[int]
    ) -> list[Image.Image]:
        """One batch (shared steps and scheduler), one CPU generator per sample."""
        for spec in specs:
            self.validate(spec)
        first = specs[0]
        scheduler = self._scheduler_name(first)
        with self._lock:
            pixels = sample_batch(
                self._unet,
                [class_from_prompt(s.prompt) for s in specs],
                list(seeds),
                steps=first.steps,
                scheduler=scheduler,
                device=self.device,
            )
        return [to_image(p) for p in pixels]


def build_digits(folder: Path) -> ModelManifest:
    """Copy the shipped weights into a model folder and write its manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights_path(), folder / WEIGHTS_FILE)
    scheme, default, maximum = calibrated("digits", DEFAULT_SCHEME)
    training = training_record()
    return create_manifest(
        folder,
        name="digits",
        kind="image",
        pipeline={
            "class": PIPELINE_CLASS,
            "unet": {k: list(v) if isinstance(v, tuple) else v for k, v in UNET_CONFIG.items()},
            "training": {"config": training["config"], "data": training["data"]},
        },
        scheduler={"name": REFERENCE_SCHEDULER, "eta": 0.0, **SCHEDULER_CONFIG},
        digest_scheme=scheme,
        default_tolerance=default,
        max_tolerance=maximum,
        input_tolerance=calibrated_input_tolerance("digits"),
        libraries=("torch", "diffusers", "safetensors"),
        defaults={
            "steps": REFERENCE_STEPS,
            "width": OUTPUT_SIZE,
            "height": OUTPUT_SIZE,
            "guidance": 0.0,
            "scheduler": "default",
        },
        description="Digits-Gen: class-conditional diffusion on scikit-learn digits; prompt "
        "'a digit 7'; 16x16 samples shown as 64x64 grey PNGs.",
        compute_budget=DIGITS_BUDGET,
    )


register_backend(PIPELINE_CLASS, DigitsGenBackend.load)
