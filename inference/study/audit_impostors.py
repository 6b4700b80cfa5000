"""The diffusion impostors the audit study's executors run: bfloat16 autocast, fewer steps
interpolated onto the claimed ones, Euler mapped into DDIM's space, and the executor that skips
the denoiser on a fraction of the steps (``lazy_trajectory``: the dishonest executor lives here,
with the study, not in the node's ``inference.audit``)."""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import sha256
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from inference.audit.challenge import challenge_indices
from inference.audit.diffusion import (
    StepModel,
    Trajectory,
)


class Autocast:
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

    def with_steps(self, steps: int) -> Autocast:
        return Autocast(self.inner.with_steps(steps))


def euler_to_ddim(model: StepModel, trajectory: Trajectory) -> Trajectory:
    """Euler's latents live at sigma scale; divide by sqrt(sigma^2 + 1) to claim DDIM's."""
    sigmas = model.scheduler().sigmas
    latents = tuple(
        latent / float(torch.sqrt(sigmas[j] ** 2 + 1))
        for j, latent in enumerate(trajectory.latents)
    )
    return Trajectory(latents, trajectory.image)


def lazy_trajectory(model: StepModel, reuse: Sequence[int]) -> Trajectory:
    """A lazy executor: on the steps in ``reuse`` it skips the denoiser and reuses the previous
    step's prediction (what caching tricks do); every other step is ``run_trajectory``'s."""
    scheduler = model.scheduler()
    latent = model.initial_latent()
    latents = [latent]
    previous: torch.Tensor | None = None
    for index in range(model.steps):
        if index in reuse and previous is not None:
            prediction = previous
        else:
            prediction = model.predict(index, latent, scheduler)
        latent = model.advance(index, latent, prediction, scheduler)
        previous = prediction
        latents.append(latent)
    return Trajectory(tuple(latents), model.decode(latent))


def faked_steps(seed: int, steps: int, fraction: float) -> list[int]:
    """Which steps a lazy executor skips (never step 0, which has no prediction to reuse)."""
    count = max(1, round(fraction * steps))
    material = sha256(b"genoracle.study.audit.faked" + seed.to_bytes(8, "big")).digest()
    return [i + 1 for i in challenge_indices(material, steps - 1, count)]
