"""Compute budgets: what an input costs, and the most a task may cost, decided alike by every node.

The schema bounds each field, not their product: 1024 px x 150 steps is a valid image input that
no CPU verifier finishes inside a one-minute commit window. Every member would then miss the
window and be slashed, and the tasks queued behind it would miss too. So each model's manifest
carries a ``ComputeBudget``: a cost model (a formula over the input, with coefficients measured
by ``make bench-inference``), the throughput of the slowest hardware the manifest supports, and a
hard cap. A node computes an input's cost from the input and the manifest alone, in integers
(the model's own tokenizer and scheduler, pinned by the manifest, give the token and step
counts), before any expensive work; an input over the budget is invalid, so every honest member
commits the reserved invalid-input digest and the task ends in agreement instead of a miss.

The budget of a task is ``min(max_units, commit_window_s * min_units_per_second * BUDGET_SHARE)``:
with ``BUDGET_SHARE`` = 1/2, the slowest supported node spends at most half of the window on the
task, and the other half is margin for a job queued ahead of it and for chain latency. The commit
window is the deployment's immutable ``commitWindow``, the same for every node of a deployment.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from inference.errors import InvalidInputError
from inference.specs import ImageInput, TextInput

BUDGET_SHARE = Fraction(1, 2)
"""Share of the commit window one task may take on the slowest supported hardware."""

REFERENCE_SAFETY_FACTOR = 4
"""The built-in manifests claim hardware down to 1/4 of the throughput that ``make
bench-inference`` measured on the project's 2-core machine (one torch thread, the worst input
shape): ``min_units_per_second = measured // REFERENCE_SAFETY_FACTOR``."""

MAX_TASK_SECONDS = 300
"""The built-in manifests' hard cap: ``max_units`` is what their slowest supported hardware
computes in this many seconds, whatever the commit window."""

LATENT_SCALE = 8
"""Image side / latent side, as in Stable Diffusion (the coefficients absorb other models')."""

PositiveInt = Annotated[int, Field(gt=0, strict=True)]
NonNegativeInt = Annotated[int, Field(ge=0, strict=True)]


class _Budget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_units: PositiveInt
    """Hard cap: no input may cost more, whatever the commit window."""
    min_units_per_second: PositiveInt
    """Throughput of the slowest hardware the manifest supports, with one torch thread (the
    node's default `inference_threads`; more threads only go faster)."""

    @classmethod
    def from_measurement(cls, measured_units_per_second: int, **coefficients: int) -> Self:
        """The built-in manifests' rule: the slowest supported hardware does a
        REFERENCE_SAFETY_FACTOR-th of the measured rate, and no input may take it more than
        MAX_TASK_SECONDS."""
        slowest = max(1, measured_units_per_second // REFERENCE_SAFETY_FACTOR)
        return cls(
            max_units=slowest * MAX_TASK_SECONDS, min_units_per_second=slowest, **coefficients
        )


class DiffusionBudget(_Budget):
    """Text-to-image by iterative denoising (diffusers pipelines, Digits-Gen).

    cost = evaluations * (L + L*L // attention_latent_pixels + evaluation_overhead)
           + decode_evaluations * L
    with L = (width / 8) * (height / 8) latent pixels and `evaluations` the denoiser calls: the
    scheduler's timesteps for the requested steps, times 2 when classifier-free guidance runs.
    Units are "latent-pixel evaluations"."""

    cost_model: Literal["diffusion/1"] = "diffusion/1"
    attention_latent_pixels: NonNegativeInt = 0
    """Latent size at which self-attention (quadratic in L) costs as much as the rest of one
    evaluation; 0 leaves the quadratic term out."""
    evaluation_overhead: NonNegativeInt = 0
    """Units of one denoiser call whatever the size (dispatch, text cross-attention)."""
    decode_evaluations: NonNegativeInt = 0
    """The decoder (VAE) run once at the end, in evaluations of the linear term."""

    @property
    def unit(self) -> str:
        """What one unit counts, for messages."""
        return "latent-pixel evaluations"


class CausalLMBudget(_Budget):
    """Text generation by a causal LM, greedy or beam search (no early stop is assumed).

    cost = num_beams * (prompt_tokens + generated_token_weight * max_new_tokens)
    with prompt_tokens counted by the model's tokenizer after its chat template. A generated
    token costs a whole forward pass, a prompt token a slice of one batched pass: the weight is
    their measured ratio. Units are "token equivalents"."""

    cost_model: Literal["causal-lm/1"] = "causal-lm/1"
    generated_token_weight: PositiveInt = 1

    @property
    def unit(self) -> str:
        """What one unit counts, for messages."""
        return "token equivalents"


ComputeBudget = Annotated[DiffusionBudget | CausalLMBudget, Field(discriminator="cost_model")]


def latent_pixels(width: int, height: int) -> int:
    """(width / 8) * (height / 8): the size measure of the diffusion cost model."""
    return (width // LATENT_SCALE) * (height // LATENT_SCALE)


def image_units(budget: DiffusionBudget, spec: ImageInput, evaluations: int) -> int:
    """Cost of one image that makes `evaluations` denoiser calls (see DiffusionBudget)."""
    latent = latent_pixels(spec.width, spec.height)
    attention = 0
    if budget.attention_latent_pixels:
        attention = latent * latent // budget.attention_latent_pixels
    per_evaluation = latent + attention + budget.evaluation_overhead
    return evaluations * per_evaluation + budget.decode_evaluations * latent


def text_units(budget: CausalLMBudget, spec: TextInput, prompt_tokens: int) -> int:
    """Cost of one completion of a `prompt_tokens`-token prompt (see CausalLMBudget)."""
    generated = budget.generated_token_weight * spec.max_new_tokens
    return spec.num_beams * (prompt_tokens + generated)


def effective_budget(budget: DiffusionBudget | CausalLMBudget, commit_window_s: int | None) -> int:
    """The most one task may cost: ``max_units``, and with a commit window
    ``commit_window_s * min_units_per_second * BUDGET_SHARE`` if that is less (integers only,
    so every node computes the same number)."""
    if commit_window_s is None:
        return budget.max_units
    if commit_window_s <= 0:
        raise ValueError(f"a commit window must be positive, got {commit_window_s}")
    share = commit_window_s * budget.min_units_per_second * BUDGET_SHARE
    return min(budget.max_units, share.numerator // share.denominator)


def _advice(budget: DiffusionBudget | CausalLMBudget) -> str:
    if isinstance(budget, DiffusionBudget):
        return "ask for fewer steps or a smaller image (guidance <= 1 halves the evaluations)"
    return "ask for fewer max_new_tokens, fewer beams or a shorter prompt"


def check_units(
    budget: DiffusionBudget | CausalLMBudget, units: int, commit_window_s: int | None
) -> None:
    """Raise InvalidInputError when an input's cost exceeds the task's budget."""
    limit = effective_budget(budget, commit_window_s)
    if units <= limit:
        return
    if commit_window_s is not None and limit < budget.max_units:
        why = (
            f"the budget of a {commit_window_s} s commit window: {commit_window_s} s x "
            f"{budget.min_units_per_second:,} units/s (the slowest supported hardware) x "
            f"{BUDGET_SHARE} = {limit:,}"
        )
    else:
        why = f"the model's cap of {budget.max_units:,}"
    raise InvalidInputError(f"input costs {units:,} {budget.unit}, over {why}; {_advice(budget)}")
