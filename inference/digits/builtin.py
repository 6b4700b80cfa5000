"""Registers Digits-Gen as the built-in model "digits" of the inference registry (on import)."""

from __future__ import annotations

from inference.digits.backend import DIGITS_BUDGET, build_digits
from inference.digits.shipped import MODEL_NAME, WEIGHTS_FILE, training_record
from inference.models import BuiltinModel, register_builtin

register_builtin(
    BuiltinModel(
        name=MODEL_NAME,
        kind="image",
        description="Digits-Gen: class-conditional diffusion trained on scikit-learn digits "
        "(prompt 'a digit 7', 64x64 grey, DDIM 50)",
        build=build_digits,
        pinned_files={WEIGHTS_FILE: training_record()["files"][WEIGHTS_FILE]},
        compute_budget=DIGITS_BUDGET,
    )
)
