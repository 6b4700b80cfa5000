"""A training task's spec: what every committee member must train, validated with clear errors.

The spec pins the base model (its on-chain model id, or a built-in name), the training data by
the sha256 of its canonical bytes (``inference.training.data``), the hyperparameters (learning
rate, batch size, seed, weight decay, gradient clipping) and the schedule: R rounds of S steps,
each round starting from the previous round's canonical checkpoint. ``canonical_json`` is its one
encoding (sorted keys, no spaces), and ``spec_id`` its sha256.
"""

from __future__ import annotations

import json
import math
import re
from hashlib import sha256
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from inference.errors import InferenceError

MAX_ROUNDS = 64
MAX_STEPS_PER_ROUND = 10_000
MAX_BATCH_SIZE = 1024
MAX_LEARNING_RATE = 1.0
_HEX64 = re.compile(r"^(0x)?[0-9a-f]{64}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class TrainingSpecError(InferenceError, ValueError):
    """A training spec that does not validate (the message lists every problem)."""


class TrainingSpec(BaseModel):
    """One fine-tuning task: base model, data hash, hyperparameters, R rounds of S steps."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    base_model: str
    """A built-in model name (e.g. "digits") or a 0x-prefixed 32-byte model id."""
    data_sha256: str
    """The sha256 of the training data's canonical bytes (64 lowercase hex digits)."""
    learning_rate: Annotated[float, Field(gt=0.0, le=MAX_LEARNING_RATE)]
    batch_size: Annotated[int, Field(ge=1, le=MAX_BATCH_SIZE)]
    seed: Annotated[int, Field(ge=0, lt=1 << 63)]
    rounds: Annotated[int, Field(ge=1, le=MAX_ROUNDS)]
    steps_per_round: Annotated[int, Field(ge=1, le=MAX_STEPS_PER_ROUND)]
    weight_decay: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    grad_clip: Annotated[float, Field(gt=0.0, le=1000.0)] = 1.0

    @field_validator("base_model")
    @classmethod
    def _model_reference(cls, value: str) -> str:
        if _NAME.match(value) or (value.startswith("0x") and _HEX64.match(value)):
            return value
        raise ValueError(
            f"{value!r} is neither a built-in model name nor a 0x-prefixed 32-byte model id"
        )

    @field_validator("data_sha256")
    @classmethod
    def _sha256_hex(cls, value: str) -> str:
        if not _HEX64.match(value):
            raise ValueError(f"{value!r} is not a sha256 (64 lowercase hex digits, optional 0x)")
        return value.removeprefix("0x")

    @field_validator("learning_rate")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("learning_rate must be finite")
        return value

    @property
    def total_steps(self) -> int:
        return self.rounds * self.steps_per_round

    def canonical_json(self) -> bytes:
        """Sorted keys, no spaces, UTF-8: the bytes a requester puts on chain."""
        return json.dumps(self.model_dump(), sort_keys=True, separators=(",", ":")).encode()

    def spec_id(self) -> str:
        """sha256 of the canonical JSON, hex."""
        return sha256(self.canonical_json()).hexdigest()


def parse_spec(raw: str | bytes | dict[str, Any]) -> TrainingSpec:
    """Validate a spec given as JSON text or a mapping; TrainingSpecError lists what is wrong."""
    try:
        data = json.loads(raw) if isinstance(raw, str | bytes) else raw
    except ValueError as exc:
        raise TrainingSpecError(f"training spec is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise TrainingSpecError("training spec must be a JSON object")
    try:
        return TrainingSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'spec'}: {error['msg']}"
            for error in exc.errors()
        )
        raise TrainingSpecError(f"invalid training spec: {problems}") from None
