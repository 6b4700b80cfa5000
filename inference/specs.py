"""Generation inputs: one strict schema per model kind, bounded, with a canonical JSON encoding.

The bytes a requester puts on chain are JSON; every verifier parses them with ``parse_input``.
Anything that does not validate (unknown field, wrong type, out-of-bound size or count, bad
JSON) raises ``InvalidInputError`` with the reason, and the node then commits the reserved
"invalid input" digest, so a bad request still ends with agreement instead of a timeout.
``canonical_json`` is the one encoding of a valid input (sorted keys, no spaces, UTF-8, only the
fields the requester set). What an omitted field means is the model's: every node parses with
``parse_input(kind, raw, manifest.defaults)``, and the manifest lists a value for every field
(``complete_defaults``), so the modelId pins it; the schema's own defaults only fill a manifest.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from inference.errors import InvalidInputError
from inference.seeds import MAX_SEED

MAX_INPUT_BYTES = 16 * 1024
MAX_PROMPT_CHARS = 2000
MIN_IMAGE_SIDE = 8
MAX_IMAGE_SIDE = 1024
MAX_STEPS = 150
MAX_GUIDANCE = 50.0
MAX_NEW_TOKENS = 1024
MAX_BEAMS = 8
MAX_MESSAGES = 64
MAX_JSON_DEPTH = 16
"""Deepest array/object nesting accepted; a valid input nests 3 levels."""
MAX_INT_DIGITS = 40
"""Longest integer literal accepted; every integer field is below 2**64."""

ModelKind = Literal["image", "text"]

SCHEDULERS: tuple[str, ...] = (
    "default",
    "ddim",
    "ddpm",
    "dpm++",
    "euler",
    "euler_a",
    "pndm",
    "unipc",
)
"""Scheduler names an image input may ask for; "default" means the one pinned by the manifest."""


class _StrictInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


Prompt = Annotated[str, Field(max_length=MAX_PROMPT_CHARS)]


class ImageInput(_StrictInput):
    """A text-to-image request: one image per input, one CPU generator seeded with ``seed``."""

    prompt: Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_CHARS)]
    negative_prompt: Prompt = ""
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = 0
    steps: Annotated[int, Field(ge=1, le=MAX_STEPS)] = 20
    guidance: Annotated[float, Field(ge=0.0, le=MAX_GUIDANCE)] = 7.5
    width: Annotated[int, Field(ge=MIN_IMAGE_SIDE, le=MAX_IMAGE_SIDE)] = 512
    height: Annotated[int, Field(ge=MIN_IMAGE_SIDE, le=MAX_IMAGE_SIDE)] = 512
    scheduler: str = "default"

    @field_validator("width", "height")
    @classmethod
    def _multiple_of_eight(cls, side: int) -> int:
        if side % 8:
            raise ValueError(f"{side} is not a multiple of 8")
        return side

    @field_validator("guidance")
    @classmethod
    def _finite(cls, guidance: float) -> float:
        if not math.isfinite(guidance):
            raise ValueError("guidance must be finite")
        return guidance

    @field_validator("scheduler")
    @classmethod
    def _known_scheduler(cls, name: str) -> str:
        if name not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {name!r}; known: {', '.join(SCHEDULERS)}")
        return name


class ChatMessage(_StrictInput):
    """One turn of a chat conversation."""

    role: Literal["system", "user", "assistant"]
    content: Annotated[str, Field(max_length=MAX_PROMPT_CHARS)]


class TextInput(_StrictInput):
    """A text-generation request: a raw prompt or chat messages, greedy (1 beam) or beam search."""

    prompt: Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_CHARS)] | None = None
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=MAX_MESSAGES)] | None = (
        None
    )
    max_new_tokens: Annotated[int, Field(ge=1, le=MAX_NEW_TOKENS)] = 64
    num_beams: Annotated[int, Field(ge=1, le=MAX_BEAMS)] = 1

    @model_validator(mode="after")
    def _exactly_one_source(self) -> TextInput:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of 'prompt' or 'messages'")
        return self


GenerationInput = ImageInput | TextInput


def canonical_json(spec: BaseModel) -> bytes:
    """The one byte encoding of an input: sorted keys, no spaces, UTF-8, the fields that were set
    (an omitted field keeps meaning "the model's default", which the manifest pins)."""
    fields = spec.model_dump(mode="json", exclude_none=True, exclude_unset=True)
    return json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "input"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def _nesting_depth_exceeds(text: str, limit: int) -> bool:
    """Whether JSON text nests arrays/objects deeper than `limit` (strings are skipped).

    Checked before decoding, so no decoder recurses on hostile input whatever the interpreter's
    recursion limit is (some libraries raise it)."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _parse_int(literal: str) -> int:
    digits = len(literal) - literal.startswith("-")
    if digits > MAX_INT_DIGITS:
        # Every integer field is bounded far below this, and int() of a literal over
        # sys.get_int_max_str_digits() digits raises a plain ValueError.
        raise InvalidInputError(
            f"integer literal with {digits} digits is out of range (at most {MAX_INT_DIGITS})"
        )
    return int(literal)


def _parse_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        shown = literal if len(literal) <= 32 else literal[:32] + "..."
        raise InvalidInputError(f"number {shown} is out of range (not a finite float)")
    return value


def _reject_constant(name: str) -> Any:
    raise InvalidInputError(f"{name} is not valid JSON (no NaN or Infinity)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidInputError(f"duplicate key {key!r} in a JSON object")
        result[key] = value
    return result


def _decode_json(text: str) -> Any:
    """Strict JSON: no NaN/Infinity, no duplicate keys, bounded integers and nesting."""
    if _nesting_depth_exceeds(text, MAX_JSON_DEPTH):
        raise InvalidInputError(f"input nests arrays/objects deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_keys,
        )
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"input is not JSON: {exc}") from exc
    except RecursionError:
        raise InvalidInputError("input nests arrays/objects too deeply") from None
    except (ValueError, OverflowError) as exc:  # e.g. a number the int/float parsers refuse
        raise InvalidInputError(f"input has a number out of range: {exc}") from exc


def schema_for(kind: str) -> type[ImageInput] | type[TextInput]:
    """The input schema of a model kind, or InvalidInputError."""
    if kind == "image":
        return ImageInput
    if kind == "text":
        return TextInput
    raise InvalidInputError(f"unknown model kind {kind!r}; expected 'image' or 'text'")


DEFAULTABLE: dict[str, tuple[str, ...]] = {
    "image": ("negative_prompt", "seed", "steps", "guidance", "width", "height", "scheduler"),
    "text": ("max_new_tokens", "num_beams"),
}
"""The fields a manifest gives a value for: every optional field except the prompt itself."""


def complete_defaults(kind: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """A manifest's defaults: the model's own values over the schema's, for every field in
    DEFAULTABLE (so that the modelId pins what each omitted field means)."""
    schema = schema_for(kind)
    unknown = sorted(set(given) - set(DEFAULTABLE[kind]))
    if unknown:
        raise ValueError(
            f"defaults {unknown} are not optional {kind} input fields; "
            f"known: {', '.join(DEFAULTABLE[kind])}"
        )
    return {
        name: given[name] if name in given else schema.model_fields[name].default
        for name in DEFAULTABLE[kind]
    }


def parse_input(
    kind: str, raw: bytes | str, defaults: Mapping[str, Any] | None = None
) -> ImageInput | TextInput:
    """Validate request bytes for a model kind ("image" or "text"), or raise InvalidInputError.

    An omitted field takes its value from `defaults` (a node passes its manifest's), else from
    the schema (a requester checking an input without the model at hand).

    Every malformed or out-of-range input raises InvalidInputError and nothing else: the node
    turns it into the reserved invalid-input digest, so any other exception would make every
    honest member miss the task."""
    schema = schema_for(kind)
    if isinstance(raw, str):
        try:
            data = raw.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInputError(f"input is not encodable as UTF-8: {exc}") from exc
    elif isinstance(raw, bytes | bytearray | memoryview):
        data = bytes(raw)
    else:
        raise InvalidInputError(f"input must be bytes or text, got {type(raw).__name__}")
    if len(data) > MAX_INPUT_BYTES:
        raise InvalidInputError(f"input is {len(data)} bytes, more than {MAX_INPUT_BYTES}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"input is not UTF-8: {exc}") from exc
    decoded = _decode_json(text)
    if not isinstance(decoded, dict):
        raise InvalidInputError(f"input must be a JSON object, got {type(decoded).__name__}")
    if defaults:
        missing = {k: v for k, v in defaults.items() if k not in decoded}
        if missing:
            text = json.dumps({**decoded, **missing})
    try:
        return schema.model_validate_json(text)
    except ValidationError as exc:
        raise InvalidInputError(f"invalid {kind} input: {_describe(exc)}") from exc
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # never expected
        raise InvalidInputError(f"invalid {kind} input: {type(exc).__name__}: {exc}") from exc
