"""The audited mode's study (issue 15): what one run covers (``StudyPlan``), running it, and
its raw records re-analysed. The parts: ``audit_steps`` (diffusion executors, honest
and impostor, recomputed step by step), ``audit_analysis`` (tolerances and detection),
``audit_text`` (the prefill margin check), ``audit_cost`` (compute against one generation),
``audit_chain`` (the chain's comparison), ``audit_report`` (figures and tables)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from inference.study.audit_analysis import analyse_diffusion
from inference.study.audit_chain import CHAIN_CHALLENGE
from inference.study.audit_steps import (
    FAKED_FRACTIONS,
    WHOLE_IMAGE_IMPOSTORS,
    DiffusionSetting,
    TrajectoryRecord,
    digits_setting,
    faked_name,
    run_diffusion,
    tiny_sd_setting,
)
from inference.study.audit_text import TextRecord, analyse_text, run_text

__all__ = [
    "FAKED_FRACTIONS",
    "FULL",
    "QUICK",
    "WHOLE_IMAGE_IMPOSTORS",
    "StudyPlan",
    "analyse_records",
    "faked_name",
    "run_audit_study",
]

# ---------------------------------------------------------------------------------------------
# The whole study, its figures and its tables
# ---------------------------------------------------------------------------------------------

DEFAULT_CHALLENGE = 1
"""Challenged steps per audited image task in the headline figures (the tables show k up to 8)."""
TARGETS = {"verified_cost_ratio": 1.25, "whole_model_detection": 0.99, "honest_accept": 0.999}


@dataclass(frozen=True)
class StudyPlan:
    """What one run covers: diffusion settings with their seeds, a text model, the costs."""

    diffusion: tuple[tuple[str, int, int, int], ...]
    """(model, size, steps, seeds 1..N): size is ignored for digits."""
    text_model: str
    text_tokens: int
    prompts: int
    cost_repeats: int
    text_cost_repeats: int


FULL = StudyPlan((("tiny-sd", 64, 20, 16), ("digits", 16, 50, 8)), "smollm2-135m", 32, 16, 15, 5)
"""About 15 minutes on one core: costs first, then tiny-sd, SmolLM2, Digits-Gen."""
QUICK = StudyPlan((("tiny-sd", 64, 10, 4), ("digits", 16, 20, 4)), "tiny-llama", 16, 8, 15, 5)
"""A few minutes: small calibration grids, but the costs as the full study measures them (medians
of 15 interleaved rounds for tiny-sd, 5 for SmolLM2: with 3 a shared machine's noise moved
tiny-sd's verified ratio from 1.22 to 1.30)."""


def open_setting(model: str, size: int, steps: int) -> DiffusionSetting:
    if model == "digits":
        return digits_setting(steps)
    if model == "tiny-sd":
        return tiny_sd_setting(size, steps)
    raise ValueError(f"unknown audit-study model {model!r}; known: digits, tiny-sd")


def run_costs(plan: StudyPlan, report: Callable[[str], None]) -> dict[str, Any]:
    """tiny-sd at 64 px / 20 and 40 steps (k = 1, the chain's, and 2 for comparison),
    SmolLM2-135M at 32 tokens (one sketched position, the chain's)."""
    from inference.study.audit_cost import diffusion_costs, text_costs

    costs: dict[str, Any] = {}
    for steps in (20, 40):
        costs[f"tiny-sd-64px-{steps}steps"] = diffusion_costs(
            64, steps, (CHAIN_CHALLENGE, 2), plan.cost_repeats
        )
        report(f"costs: tiny-sd {steps} steps done")
    costs["smollm2-135m-32tokens"] = text_costs(
        "smollm2-135m", 32, challenge=CHAIN_CHALLENGE, repeats=plan.text_cost_repeats
    )
    report("costs: smollm2 done")
    return costs


def run_audit_study(
    plan: StudyPlan,
    progress: Callable[[str], None] | None = None,
    *,
    costs: bool = True,
    conditions: Sequence[str] | None = None,
    checkpoint: Callable[[dict[str, Any]], None] | None = None,
    only_costs: bool = False,
    keep_records: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run every part of the plan under one torch thread and return the analysed results
    (``checkpoint`` gets the results so far after each part, so a long run keeps them;
    ``keep_records`` the raw records so far, for ``analyse_records``). The costs run first,
    then the first diffusion setting, the text model, the other settings."""
    from inference.determinism import deterministic
    from inference.models import load_model
    from inference.study.llm import PROMPTS

    def report(line: str) -> None:
        if progress is not None:
            progress(line)

    raw: dict[str, Any] = {"plan": plan.__dict__, "diffusion": {}, "text": None}

    def keep() -> None:
        if checkpoint is not None:
            checkpoint(results)
        if keep_records is not None:
            keep_records(raw)

    started = time.perf_counter()
    results: dict[str, Any] = {"plan": plan.__dict__, "diffusion": {}, "costs": {}}
    if costs:
        results["costs"] = run_costs(plan, report)
        keep()
    if only_costs:
        return results

    def diffusion(model: str, size: int, steps: int, seeds: int) -> None:
        setting = open_setting(model, size, steps)
        records = run_diffusion(setting, range(1, seeds + 1), conditions, report)
        raw["diffusion"][setting.name] = [asdict(r) for r in records]
        results["diffusion"][setting.name] = analyse_diffusion(records)
        keep()

    with deterministic(1):
        first, *others = plan.diffusion or (None,)
        if first is not None:
            diffusion(*first)
        if plan.prompts:
            backend: Any = load_model(plan.text_model).text_backend
            text_records = run_text(
                backend, PROMPTS[: plan.prompts], plan.text_tokens, progress=report
            )
            raw["text"] = {"model": plan.text_model, "records": [asdict(r) for r in text_records]}
            results["text"] = {"model": plan.text_model, **analyse_text(text_records)}
            keep()
        for other in others:
            diffusion(*other)
    results["seconds"] = raw["seconds"] = round(time.perf_counter() - started, 1)
    if keep_records is not None:
        keep_records(raw)
    return results


def analyse_records(raw: dict[str, Any]) -> dict[str, Any]:
    """The analysed ``diffusion`` and ``text`` parts of a study's results from its raw records
    (what ``keep_records`` received), without running anything."""
    results: dict[str, Any] = {
        "diffusion": {
            name: analyse_diffusion([TrajectoryRecord(**r) for r in rows])
            for name, rows in raw["diffusion"].items()
        }
    }
    if raw.get("text"):
        records = [TextRecord(**r) for r in raw["text"]["records"]]
        results["text"] = {"model": raw["text"]["model"], **analyse_text(records)}
    return results
