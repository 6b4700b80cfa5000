"""LLM consensus: do honest verifiers produce the same token ids (greedy and beam search)?

Each honest variant runs in its own process (its thread count and instruction set set before torch
loads) through the node's own text backend; the reference variant also measures, by a
teacher-forced pass over its greedy output, the smallest gap between the top-1 and top-2 logits:
the headroom before a numeric difference could flip a token.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from inference.study.variants import (
    HONEST,
    REFERENCE,
    StudyRunError,
    Variant,
    start_variant_worker,
)

DECODINGS = {"greedy": 1, "beam-2": 2, "beam-4": 4}
LLM_VARIANTS = (
    Variant(REFERENCE.name, "reference", "1 thread, one prompt per batch", batch_size=1),
    *(
        Variant(v.name, v.role, v.description, v.threads, 1, v.older_cpu, v.deterministic)
        for v in HONEST
        if v.name != "batch-1"
    ),
    Variant("batch-4", "honest", "4 prompts per left-padded batch instead of 1", batch_size=4),
)

_SUBJECTS = (
    "the moon",
    "a lighthouse",
    "honey bees",
    "the Roman empire",
    "volcanoes",
    "a violin",
    "photosynthesis",
    "the ocean tides",
    "a chess opening",
    "rainbows",
    "the printing press",
    "glaciers",
    "a steam engine",
    "owls",
    "the Pacific Ocean",
    "coffee",
    "a bicycle",
    "thunderstorms",
    "the alphabet",
    "penguins",
    "a compass",
    "bread baking",
    "the human heart",
    "comets",
    "a library",
)
PROMPTS = tuple(
    itertools.chain.from_iterable(
        (f"Write one sentence about {s}.", f"Explain briefly how {s} works or what it is:")
        for s in _SUBJECTS
    )
)
"""50 fixed prompts."""


def run_llm_worker(request: dict[str, Any]) -> dict[str, Any]:
    """Inside a worker process: generate every prompt x decoding, return digests and margins."""
    import torch

    from inference.digests import digest_tokens
    from inference.models import load_model
    from inference.specs import TextInput

    variant = Variant(**request["variant"])
    torch.set_num_threads(variant.threads)
    torch.use_deterministic_algorithms(variant.deterministic)
    model = load_model(request["model"])
    backend: Any = model.backend
    prompts: list[str] = request["prompts"]
    tokens: dict[str, list[list[int]]] = {}
    with torch.inference_mode():
        for decoding, beams in DECODINGS.items():
            rows: list[list[int]] = []
            for start in range(0, len(prompts), variant.batch_size):
                specs = [
                    TextInput(prompt=p, max_new_tokens=request["max_new_tokens"], num_beams=beams)
                    for p in prompts[start : start + variant.batch_size]
                ]
                rows.extend(ids for ids, _ in backend.generate_tokens(specs))
                print(f"done {len(specs)}", flush=True)
            tokens[decoding] = rows
    result: dict[str, Any] = {
        "variant": variant.name,
        "digests": {d: [digest_tokens(r).hex() for r in rows] for d, rows in tokens.items()},
        "tokens": tokens,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    if request.get("margins"):
        result["margins"] = _greedy_margins(model.folder, backend, prompts, tokens["greedy"])
    return result


def _greedy_margins(
    folder: Path, backend: Any, prompts: Sequence[str], outputs: Sequence[Sequence[int]]
) -> list[float]:
    """Per prompt, the smallest top-1 minus top-2 logit over its greedy tokens."""
    import torch
    from transformers import AutoModelForCausalLM

    from inference.specs import TextInput

    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    model.train(False)
    margins = []
    for prompt, generated in zip(prompts, outputs, strict=True):
        prompt_ids = backend.prompt_ids(TextInput(prompt=prompt))
        ids = torch.tensor([list(prompt_ids) + list(generated)])
        logits = model(ids).logits[0, len(prompt_ids) - 1 : ids.shape[1] - 1].float()
        top = torch.topk(logits, 2, dim=-1).values
        margins.append(float((top[:, 0] - top[:, 1]).min()))
    return margins


def run_llm_study(
    models: Sequence[str],
    *,
    prompts: Sequence[str] = PROMPTS,
    max_new_tokens: int = 16,
    variants: Sequence[Variant] = LLM_VARIANTS,
    show_progress: bool = True,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Every model x honest variant x decoding; consensus = identical token ids everywhere.

    With `cache_dir`, each variant's outputs are kept there, so an interrupted study resumes.
    """
    rows = []
    raw: dict[str, Any] = {}
    for model in models:
        outputs = {}
        for variant in variants:
            request = {
                "model": model,
                "variant": variant.as_dict(),
                "prompts": list(prompts),
                "max_new_tokens": max_new_tokens,
                "margins": variant.name == REFERENCE.name,
            }
            key = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:16]
            cached = cache_dir / model / f"{variant.name}-{key}.json" if cache_dir else None
            if cached is not None and cached.is_file():
                outputs[variant.name] = json.loads(cached.read_text())
                continue
            began = time.monotonic()
            outputs[variant.name] = _run_worker(
                request,
                variant,
                len(prompts) * len(DECODINGS),
                f"{model}/{variant.name}",
                show_progress,
            )
            outputs[variant.name]["seconds"] = round(time.monotonic() - began, 1)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                cached.write_text(json.dumps(outputs[variant.name]))
        reference = outputs[REFERENCE.name]
        for decoding in DECODINGS:
            agreeing = sum(
                all(
                    outputs[v.name]["digests"][decoding][i] == reference["digests"][decoding][i]
                    for v in variants
                )
                for i in range(len(prompts))
            )
            rows.append(
                {
                    "model": model,
                    "decoding": decoding,
                    "prompts": len(prompts),
                    "variants": len(variants),
                    "variant_names": [v.name for v in variants],
                    "consensus": agreeing / len(prompts),
                    "min_margin": min(reference["margins"]),
                    "max_new_tokens": max_new_tokens,
                }
            )
        raw[model] = {
            v: {
                "digests": o["digests"],
                "cpu_capability": o["cpu_capability"],
                "seconds": o.get("seconds"),  # the run that made the cached output
            }
            for v, o in outputs.items()
        }
        raw[model]["margins"] = reference["margins"]
    return {"rows": rows, "variants": [v.as_dict() for v in variants], "raw": raw}


def _run_worker(
    request: dict[str, Any], variant: Variant, total: int, label: str, show_progress: bool
) -> dict[str, Any]:
    process = start_variant_worker("inference.study.llm", request, variant)
    assert process.stdout is not None
    result_line = ""
    with tqdm(total=total, desc=label, unit="gen", disable=not show_progress) as bar:
        for line in process.stdout:
            if line.startswith("done "):
                bar.update(int(line.split()[1]))
            elif line.startswith("result "):
                result_line = line[len("result ") :]
    stderr = process.stderr.read() if process.stderr else ""
    if process.wait() != 0 or not result_line:
        raise StudyRunError(
            f"LLM worker {label} exited with {process.returncode}:\n{stderr[-3000:]}"
        )
    return dict(json.loads(result_line))


def main() -> None:
    result = run_llm_worker(json.loads(sys.stdin.read()))
    print("result " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
