"""The audit study's text part: an executor generates (greedy, or an impostor), an honest auditor
with noise of its own prefills; the logit margin and the hidden-state sketch tolerance come from
odd prompts at the calibration noise, acceptance and detection are judged on even prompts.

Honest noise is relative Gaussian noise on every decoder layer's output (the residual stream),
which the KV cache carries into later tokens. Impostors: the same model cut to half of its
layers (another, cheaper model of the same tokenizer: none other ships offline; tiny-llama's
byte-level tokenizer differs from SmolLM2's), int8 dynamically quantised Linear layers, and
sampling at temperature 1 instead of greedy decoding."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from inference.audit.sketch import DESIGNS, distance
from inference.audit.text import TextRun, generate_with_hidden, prefill, token_gaps
from inference.digests import lane_distances
from inference.hardware_noise import noise_seed
from inference.study.audit_chain import analyse_text_chain
from inference.study.audit_steps import (
    AUDITOR_REPLICA,
    CALIBRATION_NOISE,
    HIDDEN_DESIGNS,
    MARGIN_FACTOR,
    MARGIN_FLOOR,
    NOISE_LEVELS,
    TEXT_IMPOSTORS,
    TOLERANCE_SLACK,
    Lanes,
    honest_name,
)
from inference.study.noise import quantised

# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def layer_noise(model: Any, eps: float, stream: int, replica: int) -> Iterator[None]:
    """Relative noise on every decoder layer's output, one generator per (stream, replica)."""
    if eps <= 0:
        yield
        return
    generator = torch.Generator().manual_seed(noise_seed(stream, replica))

    def hook(_module: Any, _inputs: Any, output: Any) -> Any:
        tensor = output[0] if isinstance(output, tuple) else output
        z = torch.randn(tuple(tensor.shape), generator=generator).to(tensor.dtype)
        noisy = tensor * (1.0 + eps * z)
        return (noisy, *output[1:]) if isinstance(output, tuple) else noisy

    handles = [layer.register_forward_hook(hook) for layer in model.model.layers]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def half_layers(model: Any) -> Iterator[None]:
    """The same model run with only its first half of decoder layers (a cheaper model that
    shares the tokenizer)."""
    full = model.config.num_hidden_layers
    model.config.num_hidden_layers = max(1, full // 2)
    try:
        yield
    finally:
        model.config.num_hidden_layers = full


@dataclass
class TextRecord:
    """One executor generation against honest auditors: the largest token gap below the first
    auditor's argmax, per design the hidden-state sketch distance at every position (256 bits)
    and per 64-bit lane against each auditor and between the two; the second auditor's largest
    gap (the lane fields and ``second_max_gap`` are empty in records made before they existed)."""

    prompt: int
    condition: str
    tokens: int
    max_gap: float
    hidden_distances: dict[str, list[int]] = field(default_factory=dict)
    seconds: float = 0.0
    hidden_lanes: dict[str, Lanes] = field(default_factory=dict)
    second_hidden_lanes: dict[str, Lanes] = field(default_factory=dict)
    auditor_hidden_lanes: dict[str, Lanes] = field(default_factory=dict)
    second_max_gap: float | None = None


def _lanes(ours: Sequence[bytes], theirs: Sequence[bytes]) -> Lanes:
    return [list(lane_distances(a, b)) for a, b in zip(ours, theirs, strict=True)]


def text_conditions() -> list[str]:
    return [*(honest_name(eps) for eps in NOISE_LEVELS), *TEXT_IMPOSTORS]


def run_text(
    backend: Any,
    prompts: Sequence[str],
    max_new_tokens: int,
    conditions: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[TextRecord]:
    """Every condition x prompt: the executor generates, an honest auditor (own noise) prefills;
    the record keeps the largest token gap and per design the hidden-state sketch distances."""
    from inference.specs import TextInput

    model = backend._model
    designs = [DESIGNS[name] for name in HIDDEN_DESIGNS]
    int8_model: Any = None
    records = []
    for condition in conditions or text_conditions():
        started = time.perf_counter()
        for index, prompt in enumerate(prompts):
            began = time.perf_counter()
            prompt_ids = backend.prompt_ids(TextInput(prompt=prompt))
            eps = (
                float(condition.split("-", 1)[1])
                if condition.startswith("noise-")
                else (CALIBRATION_NOISE)
            )
            executor = model
            if condition == "int8":
                int8_model = int8_model or quantised(model)
                executor = int8_model
            scope = half_layers(model) if condition == "half-layers" else contextlib.nullcontext()
            with layer_noise(executor, eps, index, 0), scope:
                run: TextRun = generate_with_hidden(
                    executor,
                    prompt_ids,
                    max_new_tokens,
                    eos=backend._eos,
                    temperature=1.0 if condition == "sampling" else 0.0,
                    generator=torch.Generator().manual_seed(index),
                )
            audits = []
            for replica in (AUDITOR_REPLICA, AUDITOR_REPLICA + 1):
                with layer_noise(model, eps, index + 10_000, replica):
                    audits.append(prefill(model, prompt_ids, run.tokens))
            gaps = [token_gaps(audit.logits, run.tokens) for audit in audits]
            states = (run.hidden, *(audit.hidden for audit in audits))
            # Per design: the executor's sketches, then each auditor's, one per position.
            sketches = {d.name: [[d.sketch(h) for h in hs] for hs in states] for d in designs}
            records.append(
                TextRecord(
                    index,
                    condition,
                    len(run.tokens),
                    float(gaps[0].max()),
                    {n: list(map(distance, s[0], s[1])) for n, s in sketches.items()},
                    time.perf_counter() - began,
                    {n: _lanes(s[0], s[1]) for n, s in sketches.items()},
                    {n: _lanes(s[0], s[2]) for n, s in sketches.items()},
                    {n: _lanes(s[1], s[2]) for n, s in sketches.items()},
                    float(gaps[1].max()),
                )
            )
        if progress is not None:
            progress(
                f"text {condition}: {len(prompts)} prompts, {time.perf_counter() - started:.1f} s"
            )
    return records


def analyse_text(records: Sequence[TextRecord]) -> dict[str, Any]:
    """Margin and sketch tolerance from odd prompts at CALIBRATION_NOISE; on even prompts the
    honest acceptance per noise level and each impostor's detection (margin check, and margin or
    sketch at one challenged position)."""
    calibration = [r for r in records if r.prompt % 2 == 1]
    judged = [r for r in records if r.prompt % 2 == 0]
    honest_calibration = [r for r in calibration if r.condition == honest_name(CALIBRATION_NOISE)]
    largest = max((r.max_gap for r in honest_calibration), default=0.0)
    margin = max(MARGIN_FLOOR, MARGIN_FACTOR * largest)
    tolerances = {
        name: min(
            255,
            max((d for r in honest_calibration for d in r.hidden_distances[name]), default=0)
            + TOLERANCE_SLACK,
        )
        for name in HIDDEN_DESIGNS
    }
    by_condition: dict[str, list[TextRecord]] = {}
    for record in judged:
        by_condition.setdefault(record.condition, []).append(record)

    def sketch_fail(record: TextRecord, name: str) -> float:
        """Chance that one challenged position's sketch is out of tolerance."""
        values = np.asarray(record.hidden_distances[name]) > tolerances[name]
        return float(values.mean()) if values.size else 0.0

    per_design: dict[str, dict[str, Any]] = {}
    for name in HIDDEN_DESIGNS:
        per_design[name] = {
            "tolerance": tolerances[name],
            "honest_position_accept": {
                c: 1.0 - float(np.mean([sketch_fail(r, name) for r in by_condition.get(c, [])]))
                for c in by_condition
                if c.startswith("noise-")
            },
            "impostor_position_detection": {
                c: float(np.mean([sketch_fail(r, name) for r in by_condition.get(c, [])]))
                for c in TEXT_IMPOSTORS
                if c in by_condition
            },
        }

    def design_score(name: str) -> tuple[bool, float]:
        entry = per_design[name]
        ok = entry["honest_position_accept"].get(honest_name(CALIBRATION_NOISE), 0) >= 0.999
        return ok, float(np.mean(list(entry["impostor_position_detection"].values()) or [0]))

    chosen = max(HIDDEN_DESIGNS, key=design_score)
    margin_accept = {
        c: float(np.mean([r.max_gap <= margin for r in rows])) for c, rows in by_condition.items()
    }
    # A task is rejected when a token is outside the margin, or the one challenged position's
    # sketch is out of tolerance (averaged over the position drawn).
    combined = {
        c: float(np.mean([1.0 if r.max_gap > margin else sketch_fail(r, chosen) for r in rows]))
        for c, rows in by_condition.items()
    }
    chain = (
        analyse_text_chain(records, margin, HIDDEN_DESIGNS)
        if records and records[0].hidden_lanes
        else None
    )
    return {
        "chain": chain,
        "prompts_calibration": sorted({r.prompt for r in calibration}),
        "prompts_judged": sorted({r.prompt for r in judged}),
        "largest_honest_gap_calibration": largest,
        "margin": margin,
        "margin_accept": margin_accept,
        "designs": per_design,
        "chosen": chosen,
        "tolerance": tolerances[chosen],
        "task_reject_k1": combined,
        "tokens_median": {
            c: float(np.median([r.tokens for r in rows])) for c, rows in by_condition.items()
        },
    }
