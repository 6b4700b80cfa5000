"""What the audited mode costs in compute, against one unverified generation timed in the same
run: the executor (generation while keeping its trajectory, both Merkle trees and every sketch)
and one auditor (prompt encoding, k recomputed steps with their proofs checked, and the final
decode with its digest; for text one prefill, the margin check and k sketches).

Each ratio is the median over interleaved rounds of a task's time against the unverified
generation of the same round, on one torch thread inside the node's determinism context, timed
in process CPU seconds: on a shared machine wall-clock medians of the
same work moved by +-30 % between rounds, CPU time far less. Text generations are held to
exactly ``max_new_tokens`` tokens (no stop at end-of-sequence, for the baseline too), since an
instruct model answering a bare prompt often stops after one token.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from PIL import Image

from inference.audit.challenge import challenge_indices
from inference.audit.diffusion import (
    DiffusersSteps,
    audit_step_sketch,
    commit_trajectory,
    run_trajectory,
    state_payload,
)
from inference.audit.merkle import verify_proof
from inference.audit.sketch import DESIGNS
from inference.audit.text import commit_text, generate_with_hidden, prefill, within_margin
from inference.determinism import deterministic

AUDITORS = 2
IMAGE_SKETCH = "q0.003-prediction"
"""The sketch timed for images (tiny-sd's; all designs cost alike: one 256 x d projection per
step)."""
SECRET = b"\x07" * 32


def _round_times(tasks: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Run each task once to warm up, then ``repeats`` rounds of all tasks interleaved: per task
    its CPU seconds in each round."""
    for task in tasks.values():
        task()
    times: dict[str, list[float]] = {name: [] for name in tasks}
    for _ in range(repeats):
        for name, task in tasks.items():
            started = time.process_time()
            task()
            times[name].append(time.process_time() - started)
    return times


def _ratio(times: dict[str, list[float]], name: str) -> float:
    """The median over rounds of the task's time against the unverified generation of the same
    round (what drifts over a run, the machine's speed, cancels within a round)."""
    pairs = zip(times[name], times["unverified"], strict=True)
    return statistics.median(t / base for t, base in pairs)


def _ratios(times: dict[str, list[float]], challenge: int, auditor_key: str) -> dict[str, Any]:
    executor = _ratio(times, "executor")
    auditor = _ratio(times, auditor_key)
    names = ("unverified", "executor", auditor_key, "auditor_decode")
    return {
        "seconds": {
            ("auditor" if k == auditor_key else k): round(statistics.median(times[k]), 4)
            for k in names
            if k in times
        },
        "challenge_size": challenge,
        "executor_cost_ratio": round(executor, 4),
        "auditor_cost_ratio": round(auditor, 4),
        "verified_cost_ratio": round(executor + AUDITORS * auditor, 4),
        **(_decode_figures(times, executor, auditor) if "auditor_decode" in times else {}),
    }


def _decode_figures(
    times: dict[str, list[float]], executor: float, auditor: float
) -> dict[str, Any]:
    """The final decode's share of an image auditor, and the total when only one of the two
    auditors decodes (the other recomputes its steps only)."""
    decode = _ratio(times, "auditor_decode")
    return {
        "decode_share_of_auditor": round(decode / auditor, 3),
        "verified_cost_ratio_one_decode": round(executor + AUDITORS * auditor - decode, 4),
    }


def diffusion_costs(
    size: int = 64, steps: int = 20, challenges: Sequence[int] = (1, 2), repeats: int = 5
) -> dict[str, Any]:
    """tiny-sd at one size and step count: ratios per challenge size k."""
    from inference.digests import digest_image
    from inference.models import load_model
    from inference.runners import encode_png, generate
    from inference.specs import ImageInput

    model = load_model("tiny-sd")
    pipeline: Any = model.image_backend._pipeline  # type: ignore[attr-defined]
    scheme = model.manifest.digest_scheme
    design = DESIGNS[IMAGE_SKETCH]
    prompt, seed = "A photo of a red fox", 11
    spec = ImageInput(prompt=prompt, seed=seed, steps=steps, width=size, height=size)

    def job() -> DiffusersSteps:
        return DiffusersSteps(
            pipeline,
            prompt=prompt,
            seed=seed,
            steps=steps,
            guidance=spec.guidance,
            width=size,
            height=size,
        )

    served = commit_trajectory(job(), run_trajectory(job()), design, SECRET)
    latents = run_trajectory(job()).latents
    result: dict[str, Any] = {}

    def executor() -> None:
        model_job = job()
        trajectory = run_trajectory(model_job)
        picture = Image.fromarray(trajectory.image)
        digest_image(picture, scheme)
        encode_png(picture)  # the artifact, as the unverified run makes it
        commit_trajectory(model_job, trajectory, design, SECRET)

    def auditor(k: int) -> Callable[[], None]:
        def run() -> None:
            steps_model = job()
            for index in challenge_indices(b"\x01" * 32, steps, k):
                proof = served.evidence.proof(index)
                assert verify_proof(
                    served.evidence.root,
                    served.evidence.size,
                    index,
                    state_payload(latents[index]),
                    proof,
                )
                audit_step_sketch(steps_model, design, index, latents[index])
            image = steps_model.decode(latents[-1])
            digest_image(Image.fromarray(image), scheme)

        return run

    def decode_only() -> None:
        digest_image(Image.fromarray(job().decode(latents[-1])), scheme)

    with deterministic(1):
        times = _round_times(
            {
                "unverified": lambda: generate(model, spec),
                "executor": executor,
                **{f"auditor-{k}": auditor(k) for k in challenges},
                "auditor_decode": decode_only,
            },
            repeats,
        )
    for k in challenges:
        result[str(k)] = _ratios(times, k, f"auditor-{k}")
    return {"model": "tiny-sd", "size": size, "steps": steps, "by_challenge": result}


COST_PROMPTS = (
    "Write a long story about a lighthouse keeper and a storm.",
    "Explain in detail how a steam engine works, step by step.",
    "List ten facts about penguins and explain each one.",
)


def text_costs(
    model_name: str = "smollm2-135m",
    max_new_tokens: int = 32,
    challenge: int = 1,
    repeats: int = 3,
    prompts: Sequence[str] = COST_PROMPTS,
) -> dict[str, Any]:
    """A text model generating ``max_new_tokens``: ratios over the prompts together."""
    from inference.models import load_model
    from inference.specs import TextInput

    loaded = load_model(model_name)
    backend: Any = loaded.text_backend
    lm = backend._model
    design = DESIGNS["q0.03-state"]
    import torch
    import transformers

    specs = [TextInput(prompt=p, max_new_tokens=max_new_tokens) for p in prompts]
    ids = [backend.prompt_ids(s) for s in specs]
    runs = [generate_with_hidden(lm, i, max_new_tokens, eos=None) for i in ids]
    generation_config: Any = transformers.GenerationConfig
    config = generation_config(
        max_new_tokens=max_new_tokens,
        min_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
        eos_token_id=backend._eos,
        pad_token_id=backend._pad,
    )

    def unverified() -> None:
        """The backend's ``generate`` call, held to max_new_tokens."""
        for prompt_ids in ids:
            row = torch.tensor([prompt_ids])
            lm.generate(
                input_ids=row, attention_mask=torch.ones_like(row), generation_config=config
            )

    def executor() -> None:
        for prompt_ids in ids:
            run = generate_with_hidden(lm, prompt_ids, max_new_tokens, eos=None)
            commit_text(run, design, SECRET)

    def auditor() -> None:
        for prompt_ids, run in zip(ids, runs, strict=True):
            audit = prefill(lm, prompt_ids, run.tokens)
            within_margin(audit.logits, run.tokens, 0.05)
            for index in challenge_indices(b"\x02" * 32, len(run.tokens), challenge):
                design.sketch(audit.hidden[index])

    with deterministic(1):
        times = _round_times(
            {"unverified": unverified, "executor": executor, "auditor": auditor}, repeats
        )
    return {
        "model": model_name,
        "max_new_tokens": max_new_tokens,
        "tokens": [len(r.tokens) for r in runs],
        **_ratios(times, challenge, "auditor"),
    }
