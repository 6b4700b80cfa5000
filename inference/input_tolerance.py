"""The tolerance an image input needs, where its inputs make honest re-runs drift further apart.

A model's default tolerance (its honest floor) is calibrated at its own settings. Some inputs the
schema accepts move honest re-runs further: classifier-free guidance multiplies the difference of
two noisy denoiser outputs, so at guidance 20 honest noise of 1e-3 changes about twice the 8-bit
values it changes at 7.5, and some schedulers add a bit or two (reports/study/NOISE.md). A task
whose tolerance is below what its input needs would slash honest operators for the requester's
choice. So a manifest may carry an `input_tolerance` rule, and:

- every node computes `required_tolerance(manifest, spec)` alike (the modelId pins the rule) and
  answers a task whose on-chain tolerance is below it with the reserved invalid-input digest, the
  answer every honest member gives (`check_task_tolerance`): the requester's choice costs the
  requester, never an honest operator;
- a requester's client asks for the required tolerance by default and refuses, before anything
  is sent, an explicit one below it.

An input the model's maximum tolerance cannot cover is invalid for every task.
"""

from __future__ import annotations

import math
from typing import Annotated, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from inference.digests import Tolerance
from inference.errors import InvalidInputError
from inference.specs import MAX_GUIDANCE, SCHEDULERS, ImageInput, TextInput

Lanes = tuple[int, int, int, int]
Threshold = Annotated[int, Field(ge=0, le=255)]


class GuidanceBand(BaseModel):
    """Inputs with guidance up to `up_to` (inclusive) need at least `tolerance`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    up_to: Annotated[float, Field(gt=0.0, le=MAX_GUIDANCE)]
    tolerance: tuple[Threshold, Threshold, Threshold, Threshold]


class InputTolerance(BaseModel):
    """A model's rule: the tolerance of an input's guidance band plus its scheduler's extra bits.

    Bands are ordered by `up_to` and the last one reaches the schema's maximum guidance, so every
    input falls in exactly one; an input in no band is an error in the rule, not in the input.
    Each band holds the floor measured at its upper end, which covers the band while the floor
    grows with the guidance (the study measures points inside the bands to check it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    guidance_bands: tuple[GuidanceBand, ...] = Field(min_length=1)
    scheduler_extra: dict[str, tuple[Threshold, Threshold, Threshold, Threshold]] = Field(
        default_factory=dict
    )

    @field_validator("guidance_bands")
    @classmethod
    def _ordered_and_complete(cls, bands: tuple[GuidanceBand, ...]) -> tuple[GuidanceBand, ...]:
        bounds = [band.up_to for band in bands]
        if bounds != sorted(set(bounds)):
            raise ValueError(f"guidance bands must have increasing upper bounds, got {bounds}")
        if not math.isclose(bounds[-1], MAX_GUIDANCE):
            raise ValueError(
                f"the last guidance band must reach the schema's maximum {MAX_GUIDANCE:g}, "
                f"not {bounds[-1]:g}"
            )
        return bands

    @model_validator(mode="after")
    def _known_schedulers(self) -> InputTolerance:
        unknown = sorted(set(self.scheduler_extra) - set(SCHEDULERS))
        if unknown:
            raise ValueError(f"scheduler_extra names unknown schedulers {unknown}")
        return self

    def needs(self, default: Lanes, guidance: float, scheduler: str) -> Lanes:
        """The tolerance inputs with this guidance and scheduler need, given the model's
        default: the larger of the default and the guidance's band, plus the scheduler's extra."""
        band = lanewise_max(default, self.band_for(guidance).tolerance)
        extra = self.scheduler_extra.get(scheduler, (0, 0, 0, 0))
        return (band[0] + extra[0], band[1] + extra[1], band[2] + extra[2], band[3] + extra[3])

    def band_for(self, guidance: float) -> GuidanceBand:
        """The band an input's guidance falls in."""
        for band in self.guidance_bands:
            if guidance <= band.up_to:
                return band
        raise InvalidInputError(f"guidance {guidance:g} is above every band of the model's rule")


class RuledModel(Protocol):
    """What the rule reads of a model: its manifest's tolerances and rule (ModelManifest)."""

    @property
    def default_tolerance(self) -> Lanes: ...

    @property
    def max_tolerance(self) -> Lanes: ...

    @property
    def input_tolerance(self) -> InputTolerance | None: ...


def lanewise_max(a: Lanes, b: Lanes) -> Lanes:
    """The larger threshold of each lane."""
    return (max(a[0], b[0]), max(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def required_tolerance(manifest: RuledModel, spec: ImageInput | TextInput) -> Tolerance:
    """The smallest tolerance that keeps honest re-runs of this input agreeing: the model's
    default, raised by its rule for the input's guidance and scheduler.

    Raises InvalidInputError when even the model's maximum tolerance cannot cover it."""
    default = manifest.default_tolerance
    rule = manifest.input_tolerance
    if rule is None or not isinstance(spec, ImageInput):
        return Tolerance(default)
    needed = rule.needs(default, spec.guidance, spec.scheduler)
    if not Tolerance(manifest.max_tolerance).covers(Tolerance(needed)):
        raise InvalidInputError(
            f"guidance {spec.guidance:g} with scheduler {spec.scheduler!r} needs tolerance "
            f"{'/'.join(map(str, needed))}, above this model's maximum "
            f"{'/'.join(map(str, manifest.max_tolerance))}: lower the guidance or use the "
            "default scheduler"
        )
    return Tolerance(needed)


def check_task_tolerance(
    manifest: RuledModel, spec: ImageInput | TextInput, task_tolerance: Tolerance
) -> None:
    """Raise InvalidInputError when a task's tolerance is below what its input needs, so that
    every honest member answers the reserved digest instead of risking its stake on the
    requester's choice."""
    needed = required_tolerance(manifest, spec)
    if not task_tolerance.covers(needed):
        what = (
            f" (guidance {spec.guidance:g}, scheduler {spec.scheduler!r})"
            if isinstance(spec, ImageInput)
            else ""
        )
        raise InvalidInputError(
            f"the task's tolerance {task_tolerance} is below {needed}, what honest re-runs of "
            f"this input need{what}: request it with tolerance {needed} or more, or leave the "
            "tolerance out to get it"
        )
