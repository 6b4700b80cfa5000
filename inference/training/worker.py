"""The training worker: one round of S deterministic fine-tuning steps from a checkpoint.

A round is a pure function of (start checkpoint, data, spec, round index) at a fixed thread count:
each step draws its examples, noise and timesteps from a CPU generator seeded with
``step_seed(spec.seed, round, step)``, so a step does not depend on which steps came before it in
the process; deterministic algorithms are on; the optimiser (AdamW, constant learning rate) starts
fresh every round, so the start checkpoint is all a member needs to continue from the canonical
one. The loss and batch draws are Digits-Gen's own (``inference.digits.train``). Other thread
counts or micro-batching (the same batch as several micro-batches with gradient accumulation)
give other low bits: the honest variations the round digest tolerates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

import torch

from inference.digits.model import build_training_scheduler
from inference.digits.train import diffusion_loss, draw_batch
from inference.training.checkpoint import checkpoint_bytes, load_checkpoint, unet_from
from inference.training.data import TrainingData, as_tensors
from inference.training.spec import TrainingSpec

GradientHook = Callable[[int, Sequence[torch.nn.Parameter]], None]
"""Called after each step's backward pass with (step, parameters): the study's noise model."""


def step_seed(seed: int, round_index: int, step: int) -> int:
    """The seed of one step's generator: sha256 of the task seed, round and step, 63 bits."""
    material = (
        b"genoracle.training.step"
        + seed.to_bytes(8, "big")
        + round_index.to_bytes(4, "big")
        + step.to_bytes(4, "big")
    )
    return int.from_bytes(sha256(material).digest()[:8], "big") >> 1


@dataclass(frozen=True)
class RoundRun:
    """How one round is executed. Honest members vary only `threads` and `micro_batches`;
    the study's impostors change the rest (``honest_run`` gives a spec's values)."""

    steps: int
    learning_rate: float
    threads: int = 1
    micro_batches: int = 1
    skipped: frozenset[int] = frozenset()
    """Steps whose batch is drawn but not trained on."""
    examples: int | None = None
    """Train on the first `examples` examples only (None: all)."""
    gradient_hook: GradientHook | None = None


def honest_run(spec: TrainingSpec, threads: int = 1, micro_batches: int = 1) -> RoundRun:
    return RoundRun(spec.steps_per_round, spec.learning_rate, threads, micro_batches)


def train_round(
    start: bytes,
    data: TrainingData,
    spec: TrainingSpec,
    round_index: int,
    run: RoundRun | None = None,
) -> bytes:
    """Fine-tune from the `start` checkpoint for one round; returns the new checkpoint bytes."""
    plan = run or honest_run(spec)
    if not 0 <= round_index < spec.rounds:
        raise ValueError(f"round {round_index} outside 0..{spec.rounds - 1}")
    if plan.micro_batches < 1 or spec.batch_size % plan.micro_batches:
        raise ValueError(
            f"{plan.micro_batches} micro-batches do not split batch size {spec.batch_size}"
        )
    saved_threads = torch.get_num_threads()
    saved_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(plan.threads)
    torch.use_deterministic_algorithms(True)
    try:
        unet = unet_from(load_checkpoint(start))
        _run_steps(unet, data, spec, round_index, plan)
        return checkpoint_bytes(unet.state_dict())
    finally:
        torch.set_num_threads(saved_threads)
        torch.use_deterministic_algorithms(saved_deterministic)


def _run_steps(
    unet: Any, data: TrainingData, spec: TrainingSpec, round_index: int, plan: RoundRun
) -> None:
    images, labels = as_tensors(data)
    examples = len(data) if plan.examples is None else min(plan.examples, len(data))
    alphas_cumprod = build_training_scheduler().alphas_cumprod.to(torch.float32)
    parameters = list(unet.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=plan.learning_rate, weight_decay=spec.weight_decay)
    size = spec.batch_size // plan.micro_batches
    unet.train()
    for step in range(plan.steps):
        generator = torch.Generator().manual_seed(step_seed(spec.seed, round_index, step))
        batch = draw_batch(examples, spec.batch_size, generator)
        if step in plan.skipped:
            continue
        optimizer.zero_grad(set_to_none=True)
        for part in range(plan.micro_batches):
            chunk = batch if plan.micro_batches == 1 else batch.part(part * size, (part + 1) * size)
            loss = diffusion_loss(unet, images, labels, chunk, alphas_cumprod)
            (loss / plan.micro_batches).backward()  # type: ignore[no-untyped-call]
        if plan.gradient_hook is not None:
            plan.gradient_hook(step, parameters)
        torch.nn.utils.clip_grad_norm_(parameters, spec.grad_clip)
        optimizer.step()
    unet.eval()
