"""Conducts for the tests and the demo only: operators that cut corners, run through the very
same node code as an honest one, so the tests can show each is outvoted and slashed; and an
honest operator on other hardware (modelled noise), so they can show it is not.

No production module imports this one. A dishonest node runs as
`python -m oracle.dev.dishonest --conduct lazy --config node.toml` (oracle/dev/localnet.py starts
it that way); `genoracle node run` always runs an honest node.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inference.errors import InvalidInputError
from inference.seeds import resolve_seed
from inference.specs import ImageInput, TextInput, canonical_json, parse_input
from oracle.node.conduct import HonestConduct
from oracle.node.worker import InferenceJob, InferenceOutcome, ModelDescription

if TYPE_CHECKING:
    from collections.abc import Sequence

    from inference.audit.diffusion import StepModel, Trajectory
    from inference.audit.text import TextRun
    from inference.training.worker import RoundRun


class _Cheat(HonestConduct):
    """Acts honestly except where a subclass cheats."""

    name = "dishonest"


class LazyConduct(_Cheat):
    """Runs a cheaper or other job than the one requested: another seed for an image, half the
    tokens for a text. An input the model rejects is answered as an honest node would. As an
    audited executor it runs half the denoising steps and stretches them onto the claimed ones
    (`half_steps_trajectory`) or half the decoder layers (`half_layers_text_run`); as a training
    member it trains half of each round's steps (`half_steps_round`)."""

    name = "lazy"

    def inference(
        self, job: InferenceJob, model: ModelDescription
    ) -> InferenceJob | InferenceOutcome:
        try:
            spec = parse_input(model.kind, job.input, model.defaults)
        except InvalidInputError:
            return job
        cheaper: ImageInput | TextInput
        if isinstance(spec, ImageInput):
            seed = resolve_seed(spec.seed, job.task_id, job.entropy)
            cheaper = spec.model_copy(update={"seed": seed % ((1 << 63) - 2) + 1})
        else:
            cheaper = spec.model_copy(update={"max_new_tokens": max(1, spec.max_new_tokens // 2)})
        return dataclasses.replace(job, input=canonical_json(cheaper))

    def trajectory(self, model: StepModel) -> Trajectory:
        return half_steps_trajectory(model)

    def text_run(
        self, model: Any, prompt_ids: Sequence[int], max_new_tokens: int, eos: int | None
    ) -> TextRun:
        return half_layers_text_run(model, prompt_ids, max_new_tokens, eos)

    def training_run(self, run: RoundRun) -> RoundRun:
        return half_steps_round(run)


class RandomConduct(_Cheat):
    """Commits a random digest: no work at all."""

    name = "random"

    def inference(
        self, job: InferenceJob, model: ModelDescription
    ) -> InferenceJob | InferenceOutcome:
        return InferenceOutcome(job.task_id, os.urandom(32), 0.0)


class SilentConduct(_Cheat):
    """Computes but never commits."""

    name = "silent"

    def commits(self) -> bool:
        return False


class NoRevealConduct(_Cheat):
    """Commits but never reveals, nor hands its opening to the aggregator."""

    name = "no-reveal"

    def reveals(self) -> bool:
        return False


class OtherHardwareConduct(HonestConduct):
    """Honest, on other hardware: runs the requested image job itself, with relative noise
    `eps` (1e-3, the level the tolerances are calibrated at) multiplied into the denoiser's
    output at every step, as the noise study models another GPU (inference.study.noise).

    Text jobs, and inputs the schema or the task's tolerance make invalid, go to the worker
    unchanged: an honest node answers those alike on any hardware."""

    name = "other-hardware"

    def __init__(self, eps: float = 1e-3, replica: int = 0) -> None:
        self.eps = eps
        self.replica = replica

    def inference(
        self, job: InferenceJob, model: ModelDescription
    ) -> InferenceJob | InferenceOutcome:
        from inference.digests import Tolerance
        from inference.hardware_noise import injected_noise
        from inference.input_tolerance import check_task_tolerance
        from inference.models import default_cache
        from inference.runners import generate

        if model.kind != "image":
            return job
        loaded = default_cache().get(model.name)
        try:
            spec = parse_input(model.kind, job.input, model.defaults)
            if job.tolerance is not None:
                check_task_tolerance(loaded.manifest, spec, Tolerance.from_uint32(job.tolerance))
        except InvalidInputError:
            return job
        seed = resolve_seed(getattr(spec, "seed", 0), job.task_id, job.entropy)
        backend: Any = loaded.image_backend  # the diffusers backend holds its pipeline
        with injected_noise(backend._pipeline.unet, self.eps, [seed], self.replica):
            result = generate(loaded, spec, task_id=job.task_id, entropy=job.entropy, threads=1)
        return InferenceOutcome(
            job.task_id,
            bytes(result.digest),
            float(result.seconds),
            artifact=bytes(result.artifact),
            media_type=str(result.media_type),
            fingerprint={**result.fingerprint, "modelled_noise": self.eps},
        )


class LazyExecutorConduct(_Cheat):
    """Audited mode: as executor, runs half the denoising steps and commits to them stretched
    onto the claimed ones (half the compute), as if it had run every step."""

    name = "lazy-executor"

    def trajectory(self, model: StepModel) -> Trajectory:
        return half_steps_trajectory(model)


def half_steps_trajectory(model: StepModel) -> Trajectory:
    """Half the steps (a schedule of n // 2), its latents interpolated onto the n claimed ones
    (the audit study's `steps-50pc` impostor): every claimed step is off, so whichever step is
    challenged, the auditors' recomputation disagrees. (Skipping the denoiser on every other
    step instead would be caught only when a skipped step is challenged: half the time.)"""
    from inference.audit.diffusion import Trajectory, run_trajectory, stretched_latents

    run = run_trajectory(model.with_steps(max(1, model.steps // 2)))
    return Trajectory(tuple(stretched_latents(run.latents, model.steps)), run.image)


class LazyTextExecutorConduct(_Cheat):
    """Audited mode: as executor of a text task, decodes with only the first half of the
    model's decoder layers (about half the compute) and commits to those tokens and hidden
    states as if it had run the whole model. Image tasks it executes honestly."""

    name = "lazy-text-executor"

    def text_run(
        self, model: Any, prompt_ids: Sequence[int], max_new_tokens: int, eos: int | None
    ) -> TextRun:
        return half_layers_text_run(model, prompt_ids, max_new_tokens, eos)


def half_layers_text_run(
    model: Any, prompt_ids: Sequence[int], max_new_tokens: int, eos: int | None
) -> TextRun:
    """A greedy generation through the first half of the decoder layers only (about half the
    compute), with its tokens and hidden states, as if the whole model had run."""
    from inference.audit.text import generate_with_hidden

    layers = model.config.num_hidden_layers
    model.config.num_hidden_layers = max(1, layers // 2)  # the decoder runs this many
    try:
        return generate_with_hidden(model, prompt_ids, max_new_tokens, eos=eos)
    finally:
        model.config.num_hidden_layers = layers


class WithholdingConduct(_Cheat):
    """Audited mode: as executor, submits honestly but never serves its auditors the evidence."""

    name = "withholding"

    def serves_evidence(self) -> bool:
        return False


class SwappedResultConduct(_Cheat):
    """Audited mode, as executor: generates and serves its evidence honestly, but submits the
    digest of another image (lane 0 inverted) as its result."""

    name = "swapped-result"

    def audited_result(self, digest: bytes) -> bytes:
        return bytes(b ^ 0xFF for b in digest[:8]) + digest[8:]


class LazyTrainerConduct(_Cheat):
    """Training tasks: trains half of each round's steps (at least one) and commits the result
    as the round's."""

    name = "lazy-trainer"

    def training_run(self, run: RoundRun) -> RoundRun:
        return half_steps_round(run)


def half_steps_round(run: RoundRun) -> RoundRun:
    """The round with half its steps (at least one): committed to as if all had run."""
    return dataclasses.replace(run, steps=max(1, run.steps // 2))


CONDUCTS: dict[str, HonestConduct] = {
    conduct.name: conduct
    for conduct in (
        LazyConduct(),
        RandomConduct(),
        SilentConduct(),
        NoRevealConduct(),
        OtherHardwareConduct(),
        LazyExecutorConduct(),
        LazyTextExecutorConduct(),
        WithholdingConduct(),
        SwappedResultConduct(),
        LazyTrainerConduct(),
    )
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run a verifier node with a test conduct (tests and the demo only)."
    )
    parser.add_argument("--conduct", required=True, choices=sorted(CONDUCTS))
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("urllib3", "web3", "httpx", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from oracle.config import load_node_config
    from oracle.keys import load_account
    from oracle.node import start_node

    config = load_node_config(args.config)
    start_node(config, load_account(config.account), CONDUCTS[args.conduct]).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
