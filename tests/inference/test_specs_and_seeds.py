"""Input schemas (strict, bounded, canonical) and the seed derivation."""

from __future__ import annotations

import pytest

from inference.errors import InvalidInputError
from inference.seeds import MAX_SEED, derive_seed, resolve_seed
from inference.specs import (
    ImageInput,
    TextInput,
    canonical_json,
    complete_defaults,
    parse_input,
)


def test_image_input_fills_defaults_and_encodes_canonically() -> None:
    spec = parse_input("image", b'{"width": 64, "prompt": "a fox", "height": 64}')
    assert isinstance(spec, ImageInput)
    assert (spec.seed, spec.steps, spec.scheduler) == (0, 20, "default")
    # Only what the requester set is encoded: an omitted field means the model's default.
    assert canonical_json(spec) == b'{"height":64,"prompt":"a fox","width":64}'
    assert parse_input("image", canonical_json(spec)) == spec


def test_omitted_fields_take_the_manifests_defaults() -> None:
    model_defaults = complete_defaults("image", {"steps": 50, "width": 64, "height": 64})
    assert model_defaults["steps"] == 50 and model_defaults["guidance"] == 7.5
    spec = parse_input("image", b'{"prompt": "a digit 7", "seed": 8}', model_defaults)
    assert isinstance(spec, ImageInput)
    assert (spec.steps, spec.width, spec.seed) == (50, 64, 8)
    # A field the requester set wins over the model's default.
    asked = parse_input("image", b'{"prompt": "a digit 7", "steps": 12}', model_defaults)
    assert isinstance(asked, ImageInput) and asked.steps == 12
    with pytest.raises(ValueError, match="not optional image input fields"):
        complete_defaults("image", {"prompt": "x"})


def test_text_input_accepts_a_prompt_or_messages() -> None:
    chat = parse_input("text", '{"messages": [{"role": "user", "content": "hi"}]}')
    assert isinstance(chat, TextInput) and chat.messages is not None
    assert canonical_json(chat) == b'{"messages":[{"content":"hi","role":"user"}]}'
    raw = parse_input("text", '{"prompt": "Once upon", "num_beams": 4}')
    assert isinstance(raw, TextInput) and raw.num_beams == 4


@pytest.mark.parametrize(
    ("kind", "raw", "reason"),
    [
        ("image", b'{"prompt": "x", "width": 65}', "65 is not a multiple of 8"),
        ("image", b'{"prompt": "x", "width": 2048}', "less than or equal to 1024"),
        ("image", b'{"prompt": "x", "steps": 0}', "steps"),
        ("image", b'{"prompt": "x", "steps": "5"}', "steps: Input should be a valid integer"),
        ("image", b'{"prompt": "x", "guidance": NaN}', "NaN is not valid JSON"),
        ("image", b'{"prompt": "x", "scheduler": "lcm"}', "unknown scheduler 'lcm'"),
        ("image", b'{"prompt": "x", "colour": 1}', "colour: Extra inputs are not permitted"),
        ("image", b'{"prompt": ""}', "prompt"),
        ("image", b'{"prompt": "x", "seed": -1}', "seed"),
        ("image", b'{"prompt": "x", "seed": 9223372036854775808}', "seed"),
        ("image", b'{"prompt": "' + b"a" * 2001 + b'"}', "prompt"),
        ("image", b"[1, 2]", "must be a JSON object"),
        ("image", b"{nope", "not JSON"),
        ("image", b"\xff\xfe", "not UTF-8"),
        ("image", b" " * 20000, "more than 16384"),
        ("text", b"{}", "exactly one of 'prompt' or 'messages'"),
        ("text", b'{"prompt": "a", "messages": [{"role": "user", "content": "b"}]}', "exactly"),
        ("text", b'{"messages": [{"role": "robot", "content": "b"}]}', "role"),
        ("text", b'{"prompt": "a", "max_new_tokens": 5000}', "max_new_tokens"),
        ("text", b'{"prompt": "a", "num_beams": 9}', "num_beams"),
        ("video", b'{"prompt": "a"}', "unknown model kind 'video'"),
    ],
)
def test_invalid_inputs_name_the_problem(kind: str, raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_input(kind, raw)
    assert reason in caught.value.reason


def test_derived_seed_is_pinned_nonzero_and_depends_on_task_and_entropy() -> None:
    assert derive_seed(1, b"\x11" * 32) == 4654730711978166962
    assert derive_seed(2, b"") == 4833781226803486187
    seeds = {derive_seed(task, entropy) for task in range(50) for entropy in (b"", b"\x01")}
    assert len(seeds) == 100
    assert all(0 < seed <= MAX_SEED for seed in seeds)
    assert resolve_seed(7, 1, b"") == 7
    assert resolve_seed(0, 1, b"\x11" * 32) == derive_seed(1, b"\x11" * 32)
    with pytest.raises(ValueError, match="uint256"):
        derive_seed(-1, b"")
