"""Digits-Gen: prompts, the pinned shipped weights, real generation through the registry, what
the samples look like to a classifier, and bitwise-reproducible training."""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.svm import SVC

from inference.digits import shipped
from inference.digits.sampling import DigitsPromptError, class_from_prompt, load_unet, sample_batch
from inference.digits.train import TrainingConfig, save_weights, train
from inference.errors import InvalidInputError
from inference.models import builtin_model_names, load_model
from inference.runners import generate, run_request
from inference.specs import DEFAULTABLE, ImageInput


@pytest.mark.parametrize(
    ("prompt", "digit"), [("a digit 7", 7), ("Seven", 7), ("draw a 0", 0), ("the number nine", 9)]
)
def test_prompt_names_the_class(prompt: str, digit: int) -> None:
    assert class_from_prompt(prompt) == digit


@pytest.mark.parametrize("prompt", ["a cat", "3 and 4", "digit 12", "one or two"])
def test_prompt_without_exactly_one_digit_is_rejected(prompt: str) -> None:
    with pytest.raises(DigitsPromptError, match="exactly one digit"):
        class_from_prompt(prompt)


def test_shipped_weights_match_the_training_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = shipped.weights_path()
    assert (
        hashlib.sha256(path.read_bytes()).hexdigest()
        == shipped.training_record()["files"][shipped.WEIGHTS_FILE]
    )
    tampered = tmp_path / "weights"
    shutil.copytree(shipped.WEIGHTS_DIR, tampered)
    data = bytearray((tampered / shipped.WEIGHTS_FILE).read_bytes())
    data[-1] ^= 1
    (tampered / shipped.WEIGHTS_FILE).write_bytes(bytes(data))
    monkeypatch.setattr(shipped, "WEIGHTS_DIR", tampered)
    with pytest.raises(shipped.DigitsWeightsError, match=r"training\.json pins"):
        shipped.weights_path()


def test_digits_is_a_builtin_model_that_generates_through_the_runner() -> None:
    assert "digits" in builtin_model_names()
    model = load_model("digits")
    spec = ImageInput(prompt="a digit 3", seed=11, steps=10, width=64, height=64)
    first, second = generate(model, spec), generate(model, spec)
    assert first.digest == second.digest and first.artifact == second.artifact
    image = Image.open(io.BytesIO(first.artifact))
    assert image.size == (64, 64) and image.mode == "L"
    other_seed = generate(model, spec.model_copy(update={"seed": 12}))
    assert other_seed.artifact != first.artifact
    assert model.manifest.digest_scheme in {
        "phash64",
        "phash64+fine64",
        "phash64+dhash64",
        "phash64+sample192",
        "phash256",
    }
    with pytest.raises(InvalidInputError, match="64x64"):
        generate(model, spec.model_copy(update={"width": 512, "height": 512}))
    with pytest.raises(InvalidInputError, match="exactly one digit"):
        generate(model, spec.model_copy(update={"prompt": "a cat"}))


def test_an_omitted_field_means_the_manifests_default_on_every_node() -> None:
    """The README's example names no step count: it runs the model's 50 steps, not the input
    schema's 20, and the manifest (so the modelId) lists what every omitted field means."""
    model = load_model("digits")
    assert model.manifest.defaults["steps"] == 50
    assert set(model.manifest.defaults) == set(DEFAULTABLE["image"])
    omitted = run_request(model, b'{"prompt": "a digit 7", "seed": 8, "width": 64, "height": 64}')
    explicit = generate(
        model, ImageInput(prompt="a digit 7", seed=8, steps=50, width=64, height=64)
    )
    schema = generate(model, ImageInput(prompt="a digit 7", seed=8, steps=20, width=64, height=64))
    assert omitted.artifact == explicit.artifact
    assert omitted.artifact != schema.artifact
    # No size given at all: the model's 64x64, not the schema's 512.
    assert run_request(model, b'{"prompt": "a digit 7", "seed": 8}').artifact == explicit.artifact


def test_samples_are_recognised_as_the_prompted_digit() -> None:
    digits = load_digits()
    classifier = SVC(gamma=0.001).fit(digits.data, digits.target)
    torch.set_num_threads(1)
    unet = load_unet(shipped.weights_path())
    classes = [c for c in range(10) for _ in range(3)]
    samples = sample_batch(unet, classes, list(range(100, 100 + len(classes))))
    # Back to the data set's 8x8 in 0..16: average 2x2 blocks.
    small = samples.reshape(-1, 8, 2, 8, 2).mean(axis=(2, 4)) / 255.0 * 16.0
    predicted = classifier.predict(small.reshape(len(classes), 64))
    accuracy = float(np.mean(predicted == np.asarray(classes)))
    assert accuracy >= 0.8, f"only {accuracy:.0%} of the samples look like their digit"


def test_training_is_bitwise_reproducible(tmp_path: Path) -> None:
    config = TrainingConfig(steps=12, batch_size=16, threads=1)
    first = save_weights(train(config), tmp_path / "a.safetensors")
    second = save_weights(train(config), tmp_path / "b.safetensors")
    assert first == second
