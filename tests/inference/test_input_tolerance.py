"""The input rule: what tolerance an image input needs, computed alike by every node and client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from inference.digests import Tolerance
from inference.errors import InvalidInputError
from inference.input_tolerance import InputTolerance, check_task_tolerance, required_tolerance
from inference.manifest import ModelManifest
from inference.specs import ImageInput, TextInput
from inference.study.input_calibration import derive_rule, read_corner
from inference.tolerances import calibrated_input_tolerance

RULE = {
    "guidance_bands": [
        {"up_to": 7.5, "tolerance": [4, 14, 14, 14]},
        {"up_to": 20.0, "tolerance": [4, 26, 26, 26]},
        {"up_to": 50.0, "tolerance": [4, 30, 30, 30]},
    ],
    "scheduler_extra": {"euler_a": [0, 2, 2, 2]},
}


def _manifest(
    rule: dict[str, Any] | None = RULE, maximum: tuple[int, ...] = (32, 48, 48, 48)
) -> ModelManifest:
    return ModelManifest.model_validate(
        {
            "name": "rule-test",
            "kind": "image",
            "files": {"weights.bin": "0" * 64},
            "pipeline": {"class": "StableDiffusionPipeline"},
            "digest_scheme": "phash64+sample192",
            "default_tolerance": (4, 14, 14, 14),
            "max_tolerance": maximum,
            "library_versions": {},
            "input_tolerance": rule,
        }
    )


def _image(**fields: Any) -> ImageInput:
    return ImageInput.model_validate({"prompt": "a fox", **fields})


@pytest.mark.parametrize(
    ("fields", "needed"),
    [
        ({}, (4, 14, 14, 14)),
        ({"guidance": 0.0}, (4, 14, 14, 14)),  # never below the model's floor
        ({"guidance": 7.5001}, (4, 26, 26, 26)),
        ({"guidance": 20.0}, (4, 26, 26, 26)),
        ({"guidance": 20.0, "scheduler": "euler_a"}, (4, 28, 28, 28)),
        ({"guidance": 50.0, "scheduler": "euler_a"}, (4, 32, 32, 32)),
        ({"scheduler": "pndm"}, (4, 14, 14, 14)),
    ],
)
def test_an_input_needs_its_guidance_band_plus_its_scheduler_extra(
    fields: dict[str, Any], needed: tuple[int, int, int, int]
) -> None:
    assert required_tolerance(_manifest(), _image(**fields)).lanes == needed


def test_without_a_rule_or_for_text_the_floor_is_enough() -> None:
    assert required_tolerance(_manifest(None), _image(guidance=50.0)).lanes == (4, 14, 14, 14)
    text = TextInput.model_validate({"prompt": "hi"})
    assert required_tolerance(_manifest(), text).lanes == (4, 14, 14, 14)


def test_a_rule_is_pinned_by_the_model_id_and_absent_keeps_it() -> None:
    with_rule, without = _manifest(), _manifest(None)
    assert with_rule.model_id != without.model_id
    assert b"input_tolerance" not in without.canonical_json()


def test_a_task_below_the_inputs_need_is_invalid_with_the_fix_named() -> None:
    manifest = _manifest()
    spec = _image(guidance=20.0)
    check_task_tolerance(manifest, spec, Tolerance.of(4, 26, 26, 26))
    check_task_tolerance(manifest, spec, Tolerance.of(6, 30, 30, 30))
    with pytest.raises(InvalidInputError, match=r"4/14/14/14 is below 4/26/26/26.*guidance 20"):
        check_task_tolerance(manifest, spec, Tolerance.of(4, 14, 14, 14))
    with pytest.raises(InvalidInputError, match="below"):
        check_task_tolerance(manifest, spec, Tolerance.of(4, 26, 25, 26))  # one lane short


def test_an_input_no_tolerance_of_the_model_can_cover_is_invalid() -> None:
    manifest = _manifest(maximum=(32, 30, 30, 30))
    with pytest.raises(InvalidInputError, match=r"above this model's maximum.*lower the guidance"):
        required_tolerance(manifest, _image(guidance=50.0, scheduler="euler_a"))


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"guidance_bands": [{"up_to": 20.0, "tolerance": [4, 1, 1, 1]}]}, "maximum 50"),
        (
            {
                "guidance_bands": [
                    {"up_to": 50.0, "tolerance": [4, 1, 1, 1]},
                    {"up_to": 10.0, "tolerance": [4, 1, 1, 1]},
                ]
            },
            "increasing",
        ),
        ({"guidance_bands": []}, "at least 1"),
        (
            {
                "guidance_bands": [{"up_to": 50.0, "tolerance": [4, 1, 1, 1]}],
                "scheduler_extra": {"heun": [0, 1, 1, 1]},
            },
            "unknown schedulers",
        ),
        ({"guidance_bands": [{"up_to": 50.0, "tolerance": [4, 1, 1, 300]}]}, "255"),
    ],
)
def test_a_malformed_rule_is_refused(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        InputTolerance.model_validate(rule)


def test_a_text_model_cannot_carry_a_rule() -> None:
    with pytest.raises(ValidationError, match="image models only"):
        ModelManifest.model_validate(
            {**_manifest().model_dump(), "kind": "text", "digest_scheme": "sha256-tokens"}
        )


def test_the_built_in_table_gives_tiny_sd_a_rule_that_covers_the_measured_corners() -> None:
    rule = calibrated_input_tolerance("tiny-sd")
    assert rule is not None
    assert rule.guidance_bands[-1].up_to == 50.0
    digits = calibrated_input_tolerance("digits")
    assert digits is not None and digits.scheduler_extra["euler"][0] > 0  # Euler moves the pHash
    assert calibrated_input_tolerance("tiny-sd", Path("/nonexistent/table.json")) is None


def _results(floors: dict[str, tuple[int, int, int, int]]) -> dict[str, Any]:
    return {
        setting: {"designs": {"d": {"noise": {"0.001": {"tolerance": list(lanes)}}}}}
        for setting, lanes in floors.items()
    }


def test_read_corner_parses_the_study_settings() -> None:
    corner = read_corner("tiny-sd-64px-10steps-euler_a-guidance20")
    assert corner is not None
    assert (corner.base, corner.scheduler, corner.guidance) == (
        "tiny-sd-64px-10steps",
        "euler_a",
        20.0,
    )
    plain = read_corner("tiny-sd-64px-10steps")
    assert plain is not None and (plain.scheduler, plain.guidance) == ("default", 7.5)
    digits = read_corner("digits-euler")
    assert digits is not None and (digits.base, digits.scheduler) == ("digits", "euler")
    own = read_corner("digits-150steps")
    assert own is not None and (own.base, own.scheduler) == ("digits-150steps", "default")
    assert read_corner("tiny-sd-64px-10steps-heun") is None


def test_the_derived_rule_covers_every_corner_and_never_drops() -> None:
    floors = {
        "tiny-sd-64px-10steps": (4, 14, 14, 14),
        "tiny-sd-64px-10steps-guidance0": (4, 7, 7, 7),
        "tiny-sd-64px-10steps-guidance20": (4, 26, 26, 26),
        "tiny-sd-64px-10steps-guidance30": (4, 24, 24, 24),  # below 20's: the band keeps 26
        "tiny-sd-64px-10steps-guidance50": (4, 30, 30, 30),
        "tiny-sd-64px-10steps-ddpm": (4, 16, 16, 16),
        "tiny-sd-64px-10steps-ddpm-guidance50": (6, 35, 35, 35),
        "tiny-sd-64px-10steps-pndm": (4, 11, 11, 11),
        "tiny-sd-128px-20steps": (4, 10, 10, 10),
        "tiny-sd-128px-20steps-guidance50": (4, 32, 32, 32),  # another size raises its band
        "digits": (4, 40, 40, 40),  # another model: not this rule's corner
    }
    rule = derive_rule(_results(floors), "d", "tiny-sd", "0.001")
    assert [(b.up_to, b.tolerance[1]) for b in rule.guidance_bands] == [
        (7.5, 14),
        (20.0, 26),
        (30.0, 26),
        (50.0, 32),
    ]
    assert rule.scheduler_extra == {"ddpm": (2, 3, 3, 3)}
    for setting, lanes in floors.items():
        corner = read_corner(setting)
        assert corner is not None
        if setting.startswith("tiny-sd"):
            needs = rule.needs((4, 14, 14, 14), corner.guidance, corner.scheduler)
            assert all(n >= f for n, f in zip(needs, lanes, strict=True)), (setting, needs)
