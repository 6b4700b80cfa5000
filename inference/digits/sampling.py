"""Deterministic sampling from Digits-Gen: class labels and seeds in, 8-bit 16x16 digits out.

Each sample draws its starting noise from its own CPU generator seeded with its seed, so a sample
does not depend on which other samples share its batch; the scheduler steps are deterministic
(DDIM eta=0, Euler without churn, DPM-Solver++), so the only randomness is that starting noise.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import diffusers
import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

from inference.digits.model import IMAGE_SIZE, NUM_CLASSES, SCHEDULER_CONFIG, build_unet
from inference.errors import InferenceError

SCHEDULERS = ("ddim", "euler", "dpm++")
DTYPES = ("float32", "bfloat16", "float16")
DISPLAY_SCALE = 4
_diffusers: Any = diffusers  # untyped library, used through an Any-typed handle
_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


class DigitsPromptError(InferenceError, ValueError):
    """A prompt that names no digit class (or more than one)."""


def class_from_prompt(prompt: str) -> int:
    """The digit a prompt such as "a digit 7" or "seven" asks for; exactly one must be named."""
    text = prompt.lower()
    found = {int(d) for d in re.findall(r"(?<![0-9])[0-9](?![0-9])", text)}
    found |= {i for i, word in enumerate(_DIGIT_WORDS) if re.search(rf"\b{word}\b", text)}
    if len(found) != 1:
        raise DigitsPromptError(
            f"prompt {prompt!r} must name exactly one digit 0-9 (e.g. 'a digit 7'), found "
            f"{sorted(found) or 'none'}"
        )
    return found.pop()


def load_unet(weights: Path) -> Any:
    """The network with the shipped (or a retrained) weights, in eval mode."""
    unet = build_unet()
    unet.load_state_dict(load_file(str(weights)))
    unet.eval()
    return unet


def make_scheduler(name: str, steps: int) -> Any:
    """A sampling scheduler over the training noise schedule, with its timesteps set."""
    config = dict(SCHEDULER_CONFIG)
    if name == "ddim":
        scheduler: Any = _diffusers.DDIMScheduler(**config, set_alpha_to_one=False)
    elif name == "euler":
        config.pop("clip_sample")
        scheduler = _diffusers.EulerDiscreteScheduler(**config)
    elif name == "dpm++":
        config.pop("clip_sample")
        scheduler = _diffusers.DPMSolverMultistepScheduler(**config, algorithm_type="dpmsolver++")
    else:
        raise ValueError(f"unknown scheduler {name!r}; choose one of {', '.join(SCHEDULERS)}")
    if not 1 <= steps <= 1000:
        raise ValueError(f"steps must be in 1..1000, got {steps}")
    scheduler.set_timesteps(steps)
    return scheduler


def initial_noise(seeds: Sequence[int]) -> torch.Tensor:
    """(N, 1, 16, 16) standard normal noise, one CPU generator per seed."""
    return torch.stack(
        [
            torch.randn((1, IMAGE_SIZE, IMAGE_SIZE), generator=torch.Generator().manual_seed(s))
            for s in seeds
        ]
    )


@torch.no_grad()
def sample_batch(
    unet: Any,
    classes: Sequence[int],
    seeds: Sequence[int],
    *,
    steps: int = 50,
    scheduler: str = "ddim",
    dtype: str = "float32",
    device: str = "cpu",
) -> np.ndarray:
    """Generate one batch; returns (N, 16, 16) uint8 grey images (white digit on black). The
    network runs on `device` (where the caller put it); the noise comes from CPU generators."""
    if len(classes) != len(seeds) or not classes:
        raise ValueError("classes and seeds must be non-empty and of equal length")
    if any(not 0 <= c < NUM_CLASSES for c in classes):
        raise ValueError(f"classes must be in 0..{NUM_CLASSES - 1}, got {list(classes)}")
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    sched = make_scheduler(scheduler, steps)
    labels = torch.tensor(list(classes), dtype=torch.int64, device=device)
    sample = (initial_noise(seeds) * sched.init_noise_sigma).to(device)
    lower = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(dtype)
    autocast = (
        torch.autocast(torch.device(device).type, dtype=lower)
        if lower is not None
        else contextlib.nullcontext()
    )
    for t in sched.timesteps:
        model_input = sched.scale_model_input(sample, t)
        with autocast:
            noise = unet(model_input, t, class_labels=labels).sample
        sample = sched.step(noise.float(), t, sample).prev_sample
    pixels = ((sample.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8).cpu()
    return np.asarray(pixels[:, 0].numpy(), dtype=np.uint8)


def to_image(pixels: np.ndarray) -> Image.Image:
    """A 64x64 greyscale PIL image (nearest-neighbour 4x, so pixels stay exactly as generated)."""
    image = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8), mode="L")
    size = IMAGE_SIZE * DISPLAY_SCALE
    return image.resize((size, size), Image.Resampling.NEAREST)


def contact_sheet(images: np.ndarray, columns: int) -> Image.Image:
    """Tile (N, 16, 16) samples into one image for looking at them."""
    rows = -(-len(images) // columns)
    size = IMAGE_SIZE * DISPLAY_SCALE
    sheet = Image.new("L", (columns * size, rows * size))
    for i, pixels in enumerate(images):
        sheet.paste(to_image(pixels), ((i % columns) * size, (i // columns) * size))
    return sheet
