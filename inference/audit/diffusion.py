"""Diffusion under audit: generate while keeping the latent after every step, and recompute one
step from a served latent, exactly as the generation's own loop does it.

A ``StepModel`` splits a generation into what an auditor must redo: ``predict`` (one guided
denoiser evaluation, the expensive part) and ``advance`` (the scheduler step). The executor runs
``run_trajectory``, whose image is the model's ordinary output bit for bit (the tests pin it
against ``DiffusersBackend.generate_images``); an auditor runs ``recompute_step`` from a fresh
scheduler, so it needs no state from earlier steps. That holds for single-step schedulers (DDIM,
Euler without churn), which read only the step index; multistep ones (PNDM, DPM-Solver++, UniPC)
carry earlier predictions, which a leaf would have to include: the audited mode refuses them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import torch
from eth_hash.auto import keccak

from inference.audit.merkle import Commitment
from inference.audit.sketch import SketchDesign
from inference.errors import InferenceError

AUDITABLE_SCHEDULERS = ("DDIMScheduler", "EulerDiscreteScheduler")
"""Schedulers whose step t depends on x_t and t alone (given their config)."""


class AuditError(InferenceError, ValueError):
    """A generation that cannot be audited step by step (its scheduler keeps state)."""


class StepModel(Protocol):
    """One generation job split into recomputable steps (``stateful_ok`` on the implementations
    lets a study run a multistep scheduler end to end, as an impostor: never for an audit)."""

    steps: int

    def initial_latent(self) -> torch.Tensor:
        """x_0: the seed's noise, scaled as the sampler starts from it."""
        ...

    def scheduler(self) -> Any:
        """A fresh scheduler with its timesteps set."""
        ...

    def predict(self, index: int, latent: torch.Tensor, scheduler: Any) -> torch.Tensor:
        """The guided noise prediction of step ``index`` (one denoiser evaluation)."""
        ...

    def advance(
        self, index: int, latent: torch.Tensor, prediction: torch.Tensor, scheduler: Any
    ) -> torch.Tensor:
        """The scheduler step of step ``index``: x_index -> x_{index+1}."""
        ...

    def decode(self, latent: torch.Tensor) -> npt.NDArray[np.uint8]:
        """The 8-bit image of the final latent."""
        ...

    def with_steps(self, steps: int) -> StepModel:
        """The same job on a schedule of ``steps`` (what an executor running fewer steps than
        it claims generates)."""
        ...


def _check_auditable(scheduler: Any) -> None:
    name = type(scheduler).__name__
    if name not in AUDITABLE_SCHEDULERS:
        raise AuditError(
            f"{name} keeps state across steps, so one step cannot be recomputed from its latent "
            f"alone; audited tasks use {' or '.join(AUDITABLE_SCHEDULERS)}"
        )


class DiffusersSteps:
    """A Stable-Diffusion-style pipeline job: the pipeline's own denoising loop, step by step
    (classifier-free guidance on a doubled batch when guidance > 1, as diffusers does)."""

    def __init__(
        self,
        pipeline: Any,
        *,
        prompt: str,
        seed: int,
        steps: int,
        guidance: float,
        width: int,
        height: int,
        negative_prompt: str = "",
        scheduler: Any = None,
        device: str = "cpu",
        stateful_ok: bool = False,
    ) -> None:
        self.pipeline = pipeline
        self.seed = seed
        self.steps = steps
        self.guidance = guidance
        self.width, self.height = width, height
        self.device = device
        self._template = scheduler if scheduler is not None else pipeline.scheduler
        self._ready: Any = None
        if not stateful_ok:
            _check_auditable(self._template)
        unet = pipeline.unet
        self.guided = guidance > 1 and getattr(unet.config, "time_cond_proj_dim", None) is None
        with torch.no_grad():
            positive, negative = pipeline.encode_prompt(
                prompt, device, 1, self.guided, negative_prompt
            )
        self.embeddings = torch.cat([negative, positive]) if self.guided else positive

    def with_steps(self, steps: int) -> DiffusersSteps:
        shorter = copy.copy(self)
        shorter.steps = steps
        shorter._ready = None  # the schedule is rebuilt for the new step count
        return shorter

    def scheduler(self) -> Any:
        if self._ready is None:
            self._ready = type(self._template).from_config(self._template.config)
            self._ready.set_timesteps(self.steps, device=self.device)
        return copy.deepcopy(self._ready)  # a fresh state, without rebuilding the schedule

    def initial_latent(self) -> torch.Tensor:
        from diffusers.utils.torch_utils import randn_tensor

        vae_scale = 2 ** (len(self.pipeline.vae.config.block_out_channels) - 1)
        shape = (
            1,
            self.pipeline.unet.config.in_channels,
            self.height // vae_scale,
            self.width // vae_scale,
        )
        generator = torch.Generator("cpu").manual_seed(self.seed)
        noise = randn_tensor(shape, generator=[generator], device=torch.device(self.device))
        latent: torch.Tensor = noise * self.scheduler().init_noise_sigma
        return latent

    def predict(self, index: int, latent: torch.Tensor, scheduler: Any) -> torch.Tensor:
        t = scheduler.timesteps[index]
        if hasattr(scheduler, "step_index") and scheduler.step_index is None:
            scheduler._init_step_index(t)
        model_input = torch.cat([latent] * 2) if self.guided else latent
        model_input = scheduler.scale_model_input(model_input, t)
        with torch.no_grad():
            prediction: torch.Tensor = self.pipeline.unet(
                model_input, t, encoder_hidden_states=self.embeddings, return_dict=False
            )[0]
        if self.guided:
            unconditional, conditional = prediction.chunk(2)
            prediction = unconditional + self.guidance * (conditional - unconditional)
        return prediction

    def advance(
        self, index: int, latent: torch.Tensor, prediction: torch.Tensor, scheduler: Any
    ) -> torch.Tensor:
        t = scheduler.timesteps[index]
        if hasattr(scheduler, "step_index") and scheduler.step_index is None:
            scheduler._init_step_index(t)
        kwargs: dict[str, Any] = {"eta": 0.0} if "DDIM" in type(scheduler).__name__ else {}
        result: torch.Tensor = scheduler.step(prediction, t, latent, return_dict=False, **kwargs)[0]
        return result

    def decode(self, latent: torch.Tensor) -> npt.NDArray[np.uint8]:
        with torch.no_grad():
            vae = self.pipeline.vae
            image = vae.decode(latent / vae.config.scaling_factor, return_dict=False)[0]
        pictures = self.pipeline.image_processor.postprocess(
            image, output_type="pil", do_denormalize=[True]
        )
        return np.asarray(pictures[0].convert("RGB"), dtype=np.uint8)


class DigitsSteps:
    """A Digits-Gen job: ``inference.digits.sampling.sample_batch``'s loop for one sample."""

    def __init__(
        self,
        unet: Any,
        *,
        digit: int,
        seed: int,
        steps: int = 50,
        scheduler: str = "ddim",
        stateful_ok: bool = False,
    ) -> None:
        from inference.digits.sampling import make_scheduler

        self.unet = unet
        self.seed = seed
        self.steps = steps
        self.scheduler_name = scheduler
        self._ready = make_scheduler(scheduler, steps)
        if not stateful_ok:
            _check_auditable(self._ready)
        self.labels = torch.tensor([digit], dtype=torch.int64)

    def with_steps(self, steps: int) -> DigitsSteps:
        from inference.digits.sampling import make_scheduler

        shorter = copy.copy(self)
        shorter.steps = steps
        shorter._ready = make_scheduler(self.scheduler_name, steps)
        return shorter

    def scheduler(self) -> Any:
        return copy.deepcopy(self._ready)  # a fresh state, without rebuilding the schedule

    def initial_latent(self) -> torch.Tensor:
        from inference.digits.sampling import initial_noise

        latent: torch.Tensor = initial_noise([self.seed]) * self.scheduler().init_noise_sigma
        return latent

    def predict(self, index: int, latent: torch.Tensor, scheduler: Any) -> torch.Tensor:
        t = scheduler.timesteps[index]
        if hasattr(scheduler, "step_index") and scheduler.step_index is None:
            scheduler._init_step_index(t)
        model_input = scheduler.scale_model_input(latent, t)
        with torch.no_grad():
            prediction: torch.Tensor = self.unet(model_input, t, class_labels=self.labels).sample
        return prediction.float()

    def advance(
        self, index: int, latent: torch.Tensor, prediction: torch.Tensor, scheduler: Any
    ) -> torch.Tensor:
        t = scheduler.timesteps[index]
        if hasattr(scheduler, "step_index") and scheduler.step_index is None:
            scheduler._init_step_index(t)
        result: torch.Tensor = scheduler.step(prediction, t, latent).prev_sample
        return result

    def decode(self, latent: torch.Tensor) -> npt.NDArray[np.uint8]:
        pixels = ((latent.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8).cpu()
        return np.asarray(pixels[0, 0].numpy(), dtype=np.uint8)


@dataclass(frozen=True)
class Trajectory:
    """x_0 .. x_n (the latent before the first step and after each step) and the image."""

    latents: tuple[torch.Tensor, ...]
    image: npt.NDArray[np.uint8]

    @property
    def steps(self) -> int:
        return len(self.latents) - 1


def run_trajectory(model: StepModel) -> Trajectory:
    """Generate, keeping every latent (the executor's side of an audited task)."""
    scheduler = model.scheduler()
    latent = model.initial_latent()
    latents = [latent]
    for index in range(model.steps):
        latent = model.advance(index, latent, model.predict(index, latent, scheduler), scheduler)
        latents.append(latent)
    return Trajectory(tuple(latents), model.decode(latent))


def stretched_latents(latents: Sequence[torch.Tensor], steps: int) -> list[torch.Tensor]:
    """An m-step trajectory's latents stretched onto ``steps`` claimed steps by linear
    interpolation: what an executor that ran fewer steps must submit to fill the evidence tree.
    Only impostors build it (the audit study's fewer-steps executors, the dev nodes' lazy
    executor); it lives here beside the trajectory it forges."""
    m = len(latents) - 1
    out = []
    for j in range(steps + 1):
        position = j * m / steps
        low = min(math.floor(position), m)
        high = min(low + 1, m)
        w = position - low
        out.append(latents[low] * (1 - w) + latents[high] * w if w > 0 else latents[low])
    return out


def recompute_step(model: StepModel, index: int, latent: torch.Tensor) -> torch.Tensor:
    """The auditor's x_{index+1} from the served x_index, with a fresh scheduler."""
    scheduler = model.scheduler()
    return model.advance(index, latent, model.predict(index, latent, scheduler), scheduler)


def step_affine(
    model: StepModel, index: int, latent: torch.Tensor
) -> tuple[npt.NDArray[np.float64], float]:
    """(A, b) with x_{index+1} = A + b * prediction for this step. DDIM (eta 0): A = a * x_t,
    a = sqrt(abar_prev / abar_t), b = sqrt(1 - abar_prev) - a * sqrt(1 - abar_t) (where it clips
    the predicted image the step is not affine there, but A and b are still one function of the
    served x_t for executor and auditor alike); another single-step scheduler is probed with
    predictions 0 and 1."""
    scheduler = model.scheduler()
    if type(scheduler).__name__ == "DDIMScheduler":
        t = int(scheduler.timesteps[index])
        previous = t - scheduler.config.num_train_timesteps // scheduler.num_inference_steps
        abar = float(scheduler.alphas_cumprod[t])
        abar_prev = (
            float(scheduler.alphas_cumprod[previous])
            if previous >= 0
            else float(scheduler.final_alpha_cumprod)
        )
        a = math.sqrt(abar_prev / abar)
        return a * as_array(latent), math.sqrt(1 - abar_prev) - a * math.sqrt(1 - abar)
    zero = torch.zeros_like(latent)
    offset = model.advance(index, latent, zero, scheduler)
    unit = model.advance(index, latent, torch.ones_like(latent), model.scheduler())
    return as_array(offset), float((unit - offset).double().mean())


def sketch_of_step(
    model: StepModel,
    design: SketchDesign,
    index: int,
    before: torch.Tensor,
    after: torch.Tensor | npt.NDArray[np.float64],
) -> bytes:
    """The sketch of step ``index`` (x_index -> after) under a design of any basis."""
    later = after if isinstance(after, np.ndarray) else as_array(after)
    affine = step_affine(model, index, before) if design.basis == "prediction" else None
    return design.sketch_step(as_array(before), later, affine)


def state_payload(latent: torch.Tensor) -> bytes:
    """The evidence leaf payload of a latent: keccak256 of its float32 little-endian bytes."""
    array = latent.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4")
    return bytes(keccak(array.tobytes()))


def as_array(latent: torch.Tensor) -> npt.NDArray[np.float64]:
    return np.asarray(latent.detach().to("cpu", torch.float64).numpy())


def step_sketches(model: StepModel, trajectory: Trajectory, design: SketchDesign) -> list[bytes]:
    """One sketch per step: step i goes from x_i to x_{i+1}."""
    latents = trajectory.latents
    return [
        sketch_of_step(model, design, i, latents[i], latents[i + 1])
        for i in range(trajectory.steps)
    ]


def commit_trajectory(
    model: StepModel, trajectory: Trajectory, design: SketchDesign, secret: bytes
) -> Commitment:
    """Evidence tree over x_0..x_n and salted sketch tree over the n steps."""
    evidence = [state_payload(latent) for latent in trajectory.latents]
    return Commitment.build(evidence, step_sketches(model, trajectory, design), secret)


def audit_step_sketch(
    model: StepModel, design: SketchDesign, index: int, latent: torch.Tensor
) -> bytes:
    """What an auditor commits for challenged step ``index``: the sketch of its recomputation."""
    return sketch_of_step(model, design, index, latent, recompute_step(model, index, latent))
