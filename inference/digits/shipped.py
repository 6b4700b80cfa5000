"""Digits-Gen's shipped weights: where they are, their pinned hash and how they were trained.

`weights/training.json` records the sha256 of the shipped weights and the exact training setup;
`genoracle study train-digits` retrains and compares against it. The model manifest proper (the
on-chain modelId) is written by `inference.digits.backend.build_digits`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from inference.digits.model import IMAGE_SIZE
from inference.digits.sampling import DISPLAY_SCALE
from inference.errors import InferenceError

MODEL_NAME = "digits"
WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS_FILE = "digits-gen.safetensors"
TRAINING_RECORD = "training.json"
REFERENCE_STEPS = 50
REFERENCE_SCHEDULER = "ddim"
OUTPUT_SIZE = IMAGE_SIZE * DISPLAY_SCALE


class DigitsWeightsError(InferenceError, RuntimeError):
    """The shipped weights are missing or differ from the sha256 pinned in training.json."""


def training_record() -> dict[str, Any]:
    """The shipped training record (weights sha256, training config, runtime it ran on)."""
    return dict(json.loads((WEIGHTS_DIR / TRAINING_RECORD).read_text()))


def weights_path() -> Path:
    """The shipped weights file, after checking its sha256 against the training record."""
    path = WEIGHTS_DIR / WEIGHTS_FILE
    if not path.is_file():
        raise DigitsWeightsError(
            f"{path} is missing; retrain with `genoracle study train-digits --install`"
        )
    expected = training_record()["files"][WEIGHTS_FILE]
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != expected:
        raise DigitsWeightsError(f"{path} has sha256 {actual}, training.json pins {expected}")
    return path
