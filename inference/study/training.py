"""The training study (issue 16): honest trainers and impostors over R rounds of S steps, with
synchronisation every round and without it, each round's checkpoint digested as a member would.

Honest members differ only as honest hardware would: 1 or 2 threads, the batch computed as two
micro-batches with gradient accumulation, and the noise model (relative Gaussian noise of size
eps multiplied into every gradient, ``g * (1 + eps * z)``, and into the denoiser's output while
sampling the probes, at the noise study's levels 1e-4 and 1e-3; several replicas per level).
Impostors start from the round's canonical checkpoint like everyone else and skimp: half the
steps, half the learning rate, every fourth batch skipped, the first half of the data only, or
the start checkpoint resubmitted (the previous round's result). Synchronised: every member starts
each round from the canonical checkpoint chosen by ``inference.training.rounds.decide_round``.
Unsynchronised: each honest member continues from its own previous checkpoint.

The results keep every member's digest and checkpoint sha256 per task, mode and round (hex), so
every figure of reports/study/TRAINING.md can be recomputed (``inference.study.training_report``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from hashlib import sha256
from typing import Any, Literal

import numpy as np
import torch

from inference.determinism import deterministic, runtime_fingerprint
from inference.digests import digest_hex
from inference.digits.sampling import sample_batch
from inference.digits.shipped import weights_path
from inference.hardware_noise import injected_noise
from inference.training.checkpoint import checkpoint_sha256, load_checkpoint, unet_from
from inference.training.data import TrainingData, demo_dataset
from inference.training.digest import (
    PROBE_SCHEDULER,
    PROBE_STEPS,
    PROBES,
    ROUND_TOLERANCE,
    assemble_digest,
    flatten,
    probe_images,
)
from inference.training.rounds import decide_round
from inference.training.spec import TrainingSpec
from inference.training.worker import RoundRun, train_round

Role = Literal["honest", "impostor"]
NOISE_LEVELS = (1e-4, 1e-3)
MODES = ("sync", "no_sync")


@dataclass(frozen=True)
class TrainingPlan:
    """What one study run covers. The first task seed calibrates, the others are held out."""

    tasks: tuple[int, ...]
    rounds: int
    steps: int
    batch_size: int
    learning_rate: float
    examples: int
    replicas: int


FULL = TrainingPlan((1601, 1602, 1603), 5, 10, 16, 5e-4, 512, 3)
"""About 10 minutes on one core: 3 tasks x 5 rounds x 10 steps, 9 honest members, 5 impostors."""
BENCH = TrainingPlan((1601,), 3, 10, 16, 5e-4, 512, 1)
QUICK = TrainingPlan((1601,), 2, 2, 8, 5e-4, 128, 1)
PLANS = {"full": FULL, "bench": BENCH, "quick": QUICK}


@dataclass(frozen=True)
class Member:
    """One trainer: honest (a hardware variation) or an impostor (a cheaper computation)."""

    name: str
    role: Role
    description: str
    threads: int = 1
    micro_batches: int = 1
    noise: float = 0.0
    replica: int = 0
    steps_fraction: float = 1.0
    lr_fraction: float = 1.0
    skip_every: int = 0
    data_fraction: float = 1.0
    resubmit: bool = False


def members(replicas: int) -> list[Member]:
    honest = [
        Member("threads-1", "honest", "1 thread (the reference)"),
        Member("threads-2", "honest", "2 threads", threads=2),
        Member("batch-split", "honest", "each batch as 2 micro-batches", micro_batches=2),
        *(
            Member(
                f"noise-{eps:.0e}-r{r}",
                "honest",
                f"relative noise {eps:g} in gradients and probe denoising (replica {r})",
                noise=eps,
                replica=r,
            )
            for eps in NOISE_LEVELS
            for r in range(replicas)
        ),
    ]
    impostors = [
        Member("fewer-steps", "impostor", "half the steps", steps_fraction=0.5),
        Member("lower-lr", "impostor", "half the learning rate", lr_fraction=0.5),
        Member(
            "skipped-batches",
            "impostor",
            "every 4th batch skipped (the last one first)",
            skip_every=4,
        ),
        Member("data-subset", "impostor", "first half of the data only", data_fraction=0.5),
        Member("previous-checkpoint", "impostor", "start checkpoint resubmitted", resubmit=True),
    ]
    return honest + impostors


def _noise_seed(member: Member, round_index: int, step: int) -> int:
    material = b"genoracle.study.training-noise" + f"{member.name}/{round_index}/{step}".encode()
    return int.from_bytes(sha256(material).digest()[:8], "big") >> 1


def _gradient_noise(member: Member, round_index: int) -> Callable[[int, Sequence[Any]], None]:
    def perturb(step: int, parameters: Sequence[Any]) -> None:
        generator = torch.Generator().manual_seed(_noise_seed(member, round_index, step))
        for parameter in parameters:
            if parameter.grad is not None:
                z = torch.randn(parameter.grad.shape, generator=generator)
                parameter.grad.mul_(1.0 + member.noise * z)

    return perturb


def round_run(member: Member, spec: TrainingSpec, data: TrainingData, round_index: int) -> RoundRun:
    steps = max(1, round(spec.steps_per_round * member.steps_fraction))
    # The last step and every skip_every-th one before it: at least one batch even when S < 4.
    skipped = (
        frozenset(range(steps - 1, -1, -member.skip_every)) if member.skip_every else frozenset()
    )
    return RoundRun(
        steps=steps,
        learning_rate=spec.learning_rate * member.lr_fraction,
        threads=member.threads,
        micro_batches=member.micro_batches,
        skipped=skipped,
        examples=None if member.data_fraction >= 1.0 else int(len(data) * member.data_fraction),
        gradient_hook=_gradient_noise(member, round_index) if member.noise else None,
    )


def member_round(
    member: Member, start: bytes, data: TrainingData, spec: TrainingSpec, round_index: int
) -> tuple[bytes, bytes, np.ndarray]:
    """(checkpoint, digest, probes) of one member's round from `start`."""
    if member.resubmit:
        checkpoint = start
    else:
        checkpoint = train_round(
            start, data, spec, round_index, round_run(member, spec, data, round_index)
        )
    end = load_checkpoint(checkpoint)
    if member.noise:
        seeds = [s for _, s in PROBES]
        replica = _noise_seed(member, round_index, -1) % (1 << 32)
        with deterministic(member.threads):
            unet = unet_from(end).eval()
            with injected_noise(unet, member.noise, seeds, replica):
                probes = sample_batch(
                    unet,
                    [c for c, _ in PROBES],
                    seeds,
                    steps=PROBE_STEPS,
                    scheduler=PROBE_SCHEDULER,
                )
    else:
        probes = probe_images(end, member.threads)
    digest = assemble_digest(probes, end, load_checkpoint(start), spec.learning_rate)
    return checkpoint, digest, probes


def _drift(checkpoint: bytes, reference: bytes, start: bytes) -> float:
    """||w - w_ref|| / ||w_ref - w_start||: how far a member's weights are from the reference's,
    relative to the reference's own update this round."""
    w, ref, base = (flatten(load_checkpoint(c)) for c in (checkpoint, reference, start))
    return float((w - ref).norm() / max(float((ref - base).norm()), 1e-30))


def run_task(
    plan: TrainingPlan, seed: int, data: TrainingData, report: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Every member's digest for every round of one task, in both modes."""
    spec = TrainingSpec(
        base_model="digits",
        data_sha256=data.sha256(),
        learning_rate=plan.learning_rate,
        batch_size=plan.batch_size,
        seed=seed,
        rounds=plan.rounds,
        steps_per_round=plan.steps,
    )
    base = weights_path().read_bytes()
    everyone = members(plan.replicas)
    honest = [m for m in everyone if m.role == "honest"]
    records: list[dict[str, Any]] = []
    canonical = base
    own = {m.name: base for m in honest}
    for round_index in range(plan.rounds):
        started = time.monotonic()
        results: dict[str, dict[str, tuple[bytes, bytes, np.ndarray, bytes, float]]] = {}
        for mode in MODES:
            results[mode] = {}
            if mode == "no_sync" and round_index == 0:
                results[mode] = {m.name: results["sync"][m.name] for m in honest}
                continue
            for member in everyone if mode == "sync" else honest:
                start = canonical if mode == "sync" else own[member.name]
                began = time.monotonic()
                checkpoint, digest, probes = member_round(member, start, data, spec, round_index)
                results[mode][member.name] = (
                    checkpoint,
                    digest,
                    probes,
                    start,
                    time.monotonic() - began,
                )
        for mode in MODES:
            reference = results[mode]["threads-1"]
            for name, (checkpoint, digest, probes, start, seconds) in results[mode].items():
                records.append(
                    {
                        "task": seed,
                        "mode": mode,
                        "round": round_index,
                        "member": name,
                        "digest": digest_hex(digest),
                        "sha256": checkpoint_sha256(checkpoint),
                        "start_sha256": checkpoint_sha256(start),
                        "seconds": round(seconds, 3),
                        "weight_drift": _drift(checkpoint, reference[0], reference[3]),
                        "probe_pixels_changed": float(np.mean(probes != reference[2])),
                    }
                )
        sync = results["sync"]
        outcome = decide_round(
            [sync[m.name][1] for m in honest],
            [checkpoint_sha256(sync[m.name][0]) for m in honest],
            ROUND_TOLERANCE,
        )
        if outcome.canonical is None:
            raise RuntimeError(f"task {seed} round {round_index}: the honest members disagree")
        canonical = sync[honest[outcome.canonical].name][0]
        own = {m.name: results["no_sync"][m.name][0] for m in honest}
        report(
            f"task {seed} round {round_index + 1}/{plan.rounds}: "
            f"{time.monotonic() - started:.0f} s, canonical {honest[outcome.canonical].name}"
        )
    return records


def run_training_study(plan: TrainingPlan, report: Callable[[str], None]) -> dict[str, Any]:
    """Run every task of the plan; returns the results (records, plan, members, runtime)."""
    started = time.monotonic()
    data = demo_dataset(examples=plan.examples)
    records: list[dict[str, Any]] = []
    for seed in plan.tasks:
        records.extend(run_task(plan, seed, data, report))
    return {
        "plan": asdict(plan),
        "data_sha256": data.sha256(),
        "data": f"demo_dataset(style='thick', examples={plan.examples})",
        "members": [asdict(m) for m in members(plan.replicas)],
        "probes": {"prompts": [list(p) for p in PROBES], "steps": PROBE_STEPS},
        "run_tolerance": list(ROUND_TOLERANCE.lanes),
        "records": records,
        "runtime": runtime_fingerprint(1, plan.batch_size),
        "seconds": round(time.monotonic() - started, 1),
    }
