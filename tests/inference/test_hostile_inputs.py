"""Hostile on-chain input bytes: every one must end as InvalidInputError (the reserved digest).

A node parses a task's input with `parse_input` (oracle/node/worker.py's run_job and
inference.runners.run_request both do) and answers INVALID_INPUT_DIGEST on InvalidInputError.
Any other exception fails the job: the node misses the task and every honest member is slashed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference.digests import INVALID_INPUT_DIGEST
from inference.errors import InvalidInputError
from inference.runners import run_request
from inference.specs import MAX_INPUT_BYTES, ImageInput, TextInput, parse_input

HUGE_INT = b"9" * 5000  # over Python's 4300-digit int() limit
HOSTILE: list[tuple[str, bytes | str, str]] = [
    ("image", b'{"prompt": "x", "seed": ' + HUGE_INT + b"}", "5000 digits is out of range"),
    ("image", b'{"prompt": "x", "seed": -' + HUGE_INT + b"}", "5000 digits is out of range"),
    ("text", b'{"prompt": "x", "max_new_tokens": ' + HUGE_INT + b"}", "out of range"),
    ("text", b'{"prompt": "x", "num_beams": ' + HUGE_INT + b"}", "out of range"),
    ("image", b'{"prompt": "x", "guidance": ' + HUGE_INT + b"}", "out of range"),
    ("image", b'{"prompt": "x", "steps": ' + b"1" * 41 + b"}", "41 digits is out of range"),
    ("image", b"[" + HUGE_INT + b"]", "out of range"),
    ("image", b'{"prompt": "x", "guidance": 1e999}', "not a finite float"),
    ("image", b'{"prompt": "x", "guidance": -1e400}', "not a finite float"),
    ("image", b'{"prompt": "x", "guidance": ' + b"7" * 400 + b".5}", "not a finite float"),
    ("image", b'{"prompt": "x", "guidance": NaN}', "NaN is not valid JSON"),
    ("image", b'{"prompt": "x", "guidance": Infinity}', "Infinity is not valid JSON"),
    ("text", b'{"prompt": "x", "max_new_tokens": -Infinity}', "-Infinity is not valid JSON"),
    ("image", b'{"prompt": "x", "prompt": "y"}', "duplicate key 'prompt'"),
    ("text", b'{"messages": [{"role": "user", "role": "system", "content": "a"}]}', "duplicate"),
    ("image", b"[" * MAX_INPUT_BYTES, "deeper than 16 levels"),
    ("image", b'{"a":' * 3000, "deeper than 16 levels"),
    ("text", b'{"prompt": "x", "messages": ' + b"[" * 20 + b"]" * 20 + b"}", "deeper"),
    ("image", b"\xff\xfe{}", "not UTF-8"),
    ("image", b'{"prompt": "\xc3\x28"}', "not UTF-8"),
    ("image", b'{"prompt": "\xed\xa0\x80"}', "not UTF-8"),  # an encoded surrogate
    ("image", '{"prompt": "\udc80"}', "not encodable as UTF-8"),
    ("image", b'{"prompt": "\\ud800"}', "Invalid JSON"),  # an escaped lone surrogate
    ("image", b"\xef\xbb\xbf{}", "not JSON"),  # a BOM
    ("image", b"", "not JSON"),
    ("image", b"null", "must be a JSON object, got NoneType"),
    ("image", b"1", "must be a JSON object, got int"),
    ("image", b'"x"', "must be a JSON object, got str"),
    ("text", b"[]", "must be a JSON object, got list"),
    ("text", b'{"prompt": "x"} trailing', "not JSON"),
    ("image", b'{"prompt": "' + b"a" * (MAX_INPUT_BYTES - 20) + b'"}', "prompt"),
    ("image", b'{"prompt": "' + b"a" * MAX_INPUT_BYTES + b'"}', "more than 16384"),
    ("image", b'{"prompt": 1}', "prompt: Input should be a valid string"),
    ("image", b'{"prompt": "x", "seed": 1.5}', "seed"),
    ("image", b'{"prompt": "x", "seed": true}', "seed"),
    ("image", b'{"prompt": "x", "guidance": "7"}', "guidance"),
    ("image", b'{"prompt": ["x"]}', "prompt"),
    ("image", b'{"prompt": "x", "seed": 18446744073709551616}', "seed"),
    ("text", b'{"messages": "hi"}', "messages"),
    ("text", b'{"messages": [1]}', "messages"),
    ("text", b'{"messages": [{"role": "user", "content": null}]}', "content"),
    ("text", b'{"prompt": "x", "max_new_tokens": 1e3}', "max_new_tokens"),
    ("image", b"\x00" * 10, "not JSON"),
    ("image", b'{"prompt": "x"}', "unknown model kind"),  # wrong kind below
]


def _cases() -> Iterator[object]:
    for index, (kind, raw, reason) in enumerate(HOSTILE):
        if reason == "unknown model kind":
            kind = "audio"
        yield pytest.param(kind, raw, reason, id=f"{index}-{reason[:24]}")


@pytest.mark.parametrize(("kind", "raw", "reason"), list(_cases()))
def test_hostile_input_is_invalid_with_a_reason(kind: str, raw: bytes | str, reason: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_input(kind, raw)
    assert reason in caught.value.reason


@pytest.mark.parametrize(("kind", "raw", "reason"), list(_cases()))
def test_hostile_input_ends_as_the_invalid_input_digest(
    kind: str, raw: bytes | str, reason: str
) -> None:
    """The runner's entry point (what the worker does): the reserved digest, never an error."""
    # Parsing fails before the model is used (beyond what an omitted field means).
    model = SimpleNamespace(kind=kind, name="stub", manifest=SimpleNamespace(defaults={}))
    result = run_request(model, raw)  # type: ignore[arg-type]
    assert result.digest == INVALID_INPUT_DIGEST
    assert result.invalid_reason is not None and reason in result.invalid_reason


@pytest.mark.parametrize("limit", [200, 100_000])
def test_deep_nesting_does_not_depend_on_the_recursion_limit(limit: int) -> None:
    """Some imported libraries raise the recursion limit; the depth check must not care."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    try:
        for raw in (b"[" * MAX_INPUT_BYTES, b'{"a":' * 3000 + b"1" + b"}" * 3000):
            with pytest.raises(InvalidInputError, match=r"deeper|more than"):
                parse_input("text", raw)
    finally:
        sys.setrecursionlimit(old)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    prompt = "[[[[{{{{" * 10 + '"\\[[[['  # an escaped quote and backslash, then more brackets
    spec = parse_input("text", json.dumps({"prompt": prompt}).encode())
    assert isinstance(spec, TextInput) and spec.prompt == prompt


def test_long_valid_numbers_still_parse() -> None:
    """A long float literal that is in range stays valid (the bound is on integers only)."""
    spec = parse_input("image", b'{"prompt": "x", "guidance": 7.5' + b"0" * 500 + b', "seed": 7}')
    assert isinstance(spec, ImageInput) and spec.guidance == 7.5 and spec.seed == 7


_JSON_PIECES = st.sampled_from(
    [
        "{", "}", "[", "]", ",", ":", '"prompt"', '"messages"', '"seed"', '"max_new_tokens"',
        '"guidance"', '"role"', '"content"', '"user"', '"x"', "0", "1", "-1", "1e999", "NaN",
        "Infinity", "true", "null", "9" * 50, "1.5", '"\\ud800"', '"\\u0000"', " ",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.binary(max_size=512) | st.lists(_JSON_PIECES, max_size=60).map("".join))
def test_random_bytes_give_a_spec_or_invalid_input(raw: bytes | str) -> None:
    for kind in ("image", "text"):
        try:
            spec = parse_input(kind, raw)
        except InvalidInputError as exc:
            assert exc.reason
        else:
            assert isinstance(spec, ImageInput | TextInput)
