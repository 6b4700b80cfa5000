"""How the study drives each model: a class index and a seed in, an 8-bit image out.

A driver runs a model's own sampler (Digits-Gen's, or for tiny-sd the image backend a node runs)
under a variant's conditions. It is created inside the worker process, after the variant's
environment (thread count, instruction set) is in place, so it sees the conditions the variant
describes.
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from inference.study.variants import Variant

DIGIT_CLASSES = tuple(f"a digit {d}" for d in range(10))


class ModelDriver(Protocol):
    """A model as the study sees it."""

    name: str
    prompts: tuple[str, ...]

    def generate(
        self, classes: Sequence[int], seeds: Sequence[int], variant: Variant
    ) -> npt.NDArray[np.uint8]:
        """One batch of samples as uint8 arrays (H, W) or (H, W, 3)."""
        ...

    def fingerprint(self) -> dict[str, object]:
        """What identifies the model and runtime in the provenance record."""
        ...


def worker_conditions() -> dict[str, object]:
    """What the worker process runs under as its variant set it (library versions, threads,
    instruction set, the deterministic flag): what may change the bits of an output. Unlike a
    node's `inference.determinism.runtime_fingerprint`, the flag is read, not assumed."""
    import diffusers
    import torch

    return {
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "machine": platform.machine(),
    }


class DigitsDriver:
    """Digits-Gen from its shipped weights; prompt i is "a digit i"."""

    name = "digits"
    prompts = DIGIT_CLASSES
    reference_steps = 50
    reference_scheduler = "ddim"

    def __init__(self, weights: Path | None = None) -> None:
        from inference.digits.sampling import load_unet
        from inference.digits.shipped import weights_path

        self.weights = weights or weights_path()
        self.unet = load_unet(self.weights)
        self.weights_sha256 = hashlib.sha256(self.weights.read_bytes()).hexdigest()

    def generate(
        self, classes: Sequence[int], seeds: Sequence[int], variant: Variant
    ) -> npt.NDArray[np.uint8]:
        from inference.digits.sampling import sample_batch

        return sample_batch(
            self.unet,
            classes,
            seeds,
            steps=variant.steps or self.reference_steps,
            scheduler=variant.scheduler or self.reference_scheduler,
            dtype=variant.dtype,
        )

    def fingerprint(self) -> dict[str, object]:
        return {"model": self.name, "weights_sha256": self.weights_sha256, **worker_conditions()}


TINY_SD_CLASSES = tuple(
    f"A photo of a {name}"
    for name in (
        "goldfish",
        "tree frog",
        "golden retriever",
        "tabby cat",
        "red fox",
        "lighthouse",
        "sports car",
        "espresso",
        "volcano",
        "daisy",
    )
)


class TinySDDriver:
    """The inference package's tiny-sd through its own image backend, ImageNet-Gen style prompts.

    The driver calls the backend directly (not `inference.runners`) so that the variant, not the
    runner's deterministic context, decides the thread count and the deterministic flag.
    """

    name = "tiny-sd"
    prompts = TINY_SD_CLASSES
    reference_steps = 10  # the model's own default: what a node runs when a request names none
    reference_scheduler = "default"
    size = 64

    def __init__(self) -> None:
        from inference.models import load_model

        self.model = load_model("tiny-sd")

    def generate(
        self, classes: Sequence[int], seeds: Sequence[int], variant: Variant
    ) -> npt.NDArray[np.uint8]:
        from inference.specs import ImageInput

        if variant.dtype != "float32":
            raise ValueError(
                f"tiny-sd runs in float32 only; variant {variant.name} asks {variant.dtype}"
            )
        specs = [
            ImageInput(
                prompt=self.prompts[c],
                seed=s,
                steps=variant.steps or self.reference_steps,
                scheduler=variant.scheduler or self.reference_scheduler,
                width=self.size,
                height=self.size,
            )
            for c, s in zip(classes, seeds, strict=True)
        ]
        backend = self.model.image_backend
        images = backend.generate_images(specs, list(seeds))
        return np.stack([np.asarray(image.convert("RGB"), dtype=np.uint8) for image in images])

    def fingerprint(self) -> dict[str, object]:
        return {
            "model": self.name,
            "model_id": self.model.manifest.model_id_hex,
            **worker_conditions(),
        }


STUDY_MODELS = ("digits", "tiny-sd")
MODEL_ABOUT = {
    "digits": "Digits-Gen: a class-conditional diffusion model trained here on scikit-learn's"
    " digits (16x16 samples, digested as a 64x64 upscale), DDIM 50 steps.",
    "tiny-sd": "tiny-sd: a Stable Diffusion pipeline with random weights built from fixed seeds"
    " (no trained image generator is available offline), 64x64, 10 steps. Its prompts barely"
    " change the image, which is why its other-class pairs with the same seed collide.",
}
"""One line per study model for the report: what it is and what that means for its figures."""
MODEL_VARIANTS: dict[str, tuple[str, ...]] = {
    "digits": (
        *("reference", "threads-2", "batch-1", "avx2", "nondeterministic"),
        *("steps-10", "steps-25", "euler", "dpm-20", "bf16"),
    ),
    "tiny-sd": (
        *("reference", "threads-2", "batch-1", "avx2", "nondeterministic"),
        *("steps-5", "euler", "dpm-20"),
    ),
}
"""Variants each model runs (tiny-sd: 10 reference steps, no bf16 path in its backend)."""


def open_driver(model: str) -> ModelDriver:
    """The driver of a study model by name."""
    if model == "digits":
        return DigitsDriver()
    if model == "tiny-sd":
        return TinySDDriver()
    raise ValueError(f"unknown study model {model!r}; known: {', '.join(STUDY_MODELS)}")
