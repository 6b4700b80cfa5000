"""Training specs and content-addressed training data: validation and the sha256 check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inference.training.data import (
    TrainingData,
    TrainingDataError,
    demo_dataset,
    load_data,
    parse_data,
)
from inference.training.spec import TrainingSpec, TrainingSpecError, parse_spec

SPEC = {
    "base_model": "digits",
    "data_sha256": "ab" * 32,
    "learning_rate": 5e-4,
    "batch_size": 16,
    "seed": 7,
    "rounds": 3,
    "steps_per_round": 10,
}


def test_demo_dataset_is_deterministic_and_in_the_new_style(tmp_path: Path) -> None:
    first, second = demo_dataset(examples=64), demo_dataset(examples=64)
    assert first.sha256() == second.sha256()
    assert first.images.shape == (64, 16, 16) and first.labels.shape == (64,)
    plain = demo_dataset(style="plain", examples=64)
    assert plain.sha256() != first.sha256()
    assert np.array_equal(first.labels, plain.labels)
    assert (first.images >= plain.images).all() and first.images.mean() > plain.images.mean()
    subset = demo_dataset(classes=(3, 8), examples=32)
    assert set(subset.labels.tolist()) <= {3, 8}
    digest = first.save(tmp_path / "data.bin")
    assert digest == first.sha256()
    loaded = load_data(tmp_path / "data.bin", digest)
    assert np.array_equal(loaded.images, first.images)
    assert np.array_equal(loaded.labels, first.labels)


def test_tampered_data_is_rejected_with_a_clear_error(tmp_path: Path) -> None:
    data = demo_dataset(examples=32)
    raw = bytearray(data.canonical_bytes())
    raw[100] ^= 1
    with pytest.raises(TrainingDataError, match=r"sha256 .* the task names .* altered"):
        parse_data(bytes(raw), data.sha256())
    with pytest.raises(TrainingDataError, match="header announces"):
        parse_data(data.canonical_bytes()[:-1])
    with pytest.raises(TrainingDataError, match="GODATA1"):
        parse_data(b"not data at all, clearly")
    with pytest.raises(TrainingDataError, match=r"labels must be 0\.\.9"):
        TrainingData(data.images, np.full(32, 10, dtype=np.uint8))
    with pytest.raises(TrainingDataError, match="unknown style"):
        demo_dataset(style="italic")


def test_spec_validates_with_clear_errors() -> None:
    spec = parse_spec(json.dumps(SPEC))
    assert spec.total_steps == 30
    assert parse_spec(spec.canonical_json()) == spec
    assert len(spec.spec_id()) == 64
    assert parse_spec({**SPEC, "data_sha256": "0x" + "ab" * 32}).data_sha256 == "ab" * 32
    for bad, message in (
        ({"data_sha256": "xyz"}, "data_sha256: .*not a sha256"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"rounds": 0}, "rounds"),
        ({"batch_size": "16"}, "batch_size"),
        ({"base_model": "Not A Model!"}, "base_model"),
        ({"optimizer": "sgd"}, "optimizer: Extra inputs"),
    ):
        with pytest.raises(TrainingSpecError, match=message):
            parse_spec({**SPEC, **bad})
    with pytest.raises(TrainingSpecError, match="not JSON"):
        parse_spec("{")
    assert isinstance(spec, TrainingSpec)
