"""Deterministic training of Digits-Gen on scikit-learn's bundled digits (no download).

Training is a pure function of (seed, thread count, CPU instruction set, library versions): every
random draw comes from one seeded CPU generator, deterministic algorithms are enforced and the
thread count is fixed, so re-running it reproduces the shipped weights byte for byte on the same
kind of machine (the paper's training-reproducibility point).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from safetensors.torch import save_file
from sklearn.datasets import load_digits

from inference.digits.model import (
    IMAGE_SIZE,
    TRAIN_TIMESTEPS,
    build_training_scheduler,
    build_unet,
)


@dataclass(frozen=True)
class TrainingConfig:
    """Every knob that changes the trained bytes; recorded in the weights' metadata."""

    steps: int = 2600
    batch_size: int = 64
    learning_rate: float = 2e-3
    warmup_steps: int = 200
    weight_decay: float = 0.01
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    seed: int = 20260101
    threads: int = 2


def load_training_images() -> tuple[torch.Tensor, torch.Tensor]:
    """The 1797 digits as (N, 1, 16, 16) float32 in [-1, 1] (bilinear 2x upscale) and labels."""
    digits = load_digits()
    pixels = torch.from_numpy(np.asarray(digits.images, dtype=np.float32) / 16.0).unsqueeze(1)
    upscaled = F.interpolate(pixels, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear")
    images = upscaled.clamp(0.0, 1.0) * 2.0 - 1.0
    labels = torch.from_numpy(np.asarray(digits.target, dtype=np.int64))
    return images.contiguous(), labels


@dataclass(frozen=True)
class Batch:
    """One training step's random draws: which examples, their noise and their timesteps."""

    index: torch.Tensor
    noise: torch.Tensor
    timesteps: torch.Tensor

    def part(self, start: int, stop: int) -> Batch:
        """Rows start..stop (a micro-batch of the same draws)."""
        return Batch(self.index[start:stop], self.noise[start:stop], self.timesteps[start:stop])


def draw_batch(examples: int, batch_size: int, generator: torch.Generator) -> Batch:
    """A step's draws from `generator`, in a fixed order (examples, noise, timesteps)."""
    index = torch.randint(0, examples, (batch_size,), generator=generator)
    noise = torch.randn((batch_size, 1, IMAGE_SIZE, IMAGE_SIZE), generator=generator)
    timesteps = torch.randint(0, TRAIN_TIMESTEPS, (batch_size,), generator=generator)
    return Batch(index, noise, timesteps)


def diffusion_loss(
    unet: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch: Batch,
    alphas_cumprod: torch.Tensor,
) -> torch.Tensor:
    """The epsilon-prediction MSE of the network on one batch of noised examples."""
    clean, classes = images[batch.index], labels[batch.index]
    alpha_bar = alphas_cumprod[batch.timesteps].view(-1, 1, 1, 1)
    noisy = alpha_bar.sqrt() * clean + (1.0 - alpha_bar).sqrt() * batch.noise
    predicted = unet(noisy, batch.timesteps, class_labels=classes).sample
    return F.mse_loss(predicted, batch.noise)


def _learning_rate(config: TrainingConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to zero."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))


def train(
    config: TrainingConfig,
    on_progress: Callable[[int, float], None] | None = None,
) -> dict[str, torch.Tensor]:
    """Train and return the EMA weights (the ones that sample best), keys sorted."""
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)

    images, labels = load_training_images()
    unet = build_unet()
    scheduler = build_training_scheduler()
    alphas_cumprod = scheduler.alphas_cumprod.to(torch.float32)
    ema = {name: value.detach().clone() for name, value in unet.state_dict().items()}
    optimizer = torch.optim.AdamW(
        unet.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    unet.train()
    for step in range(config.steps):
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(config, step)
        batch = draw_batch(images.shape[0], config.batch_size, generator)
        loss = diffusion_loss(unet, images, labels, batch, alphas_cumprod)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(unet.parameters(), config.grad_clip)
        optimizer.step()
        decay = min(config.ema_decay, (1.0 + step) / (10.0 + step))
        with torch.no_grad():
            for name, value in unet.state_dict().items():
                if value.dtype.is_floating_point:
                    ema[name].mul_(decay).add_(value, alpha=1.0 - decay)
                else:
                    ema[name].copy_(value)
        if on_progress is not None:
            on_progress(step + 1, float(loss.item()))
    return {name: ema[name].contiguous() for name in sorted(ema)}


def save_weights(weights: dict[str, torch.Tensor], path: Path) -> str:
    """Write safetensors and return the file's sha256.

    No metadata: safetensors writes its metadata map in hash-map order, which changes from run to
    run, so the same weights would get a different sha256. The config lives in training.json.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    """Train with the default config into the path given on the command line (for nohup runs)."""
    import sys

    out = Path(sys.argv[1])
    config = TrainingConfig(threads=int(sys.argv[2])) if len(sys.argv) > 2 else TrainingConfig()
    started = time.monotonic()

    def report(step: int, loss: float) -> None:
        if step % 100 == 0 or step == config.steps:
            print(
                f"step {step}/{config.steps} loss {loss:.4f} {time.monotonic() - started:.0f}s",
                flush=True,
            )

    digest = save_weights(train(config, report), out)
    print(f"sha256 {digest} {out} {time.monotonic() - started:.0f}s", flush=True)


if __name__ == "__main__":
    main()
