"""Tiny offline models built from fixed seeds: a Stable Diffusion pipeline and a Llama.

Nothing here is trained: the weights come from seeded initialisation, so the models exercise the
real diffusers and transformers code paths (and the whole oracle) without any download. Their
bytes depend on the library versions, so every built file is pinned by sha256 (see ``PINS``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from inference.compute_budget import CausalLMBudget, DiffusionBudget
from inference.digests import TEXT_SCHEME
from inference.manifest import (
    IMAGE_LIBRARIES,
    TEXT_LIBRARIES,
    ModelManifest,
    create_manifest,
    public_config,
)
from inference.tolerances import calibrated, calibrated_input_tolerance

TINY_SD_SEED = 20231
TINY_LLAMA_SEED = 20232

# The diffusers test suite's tiny components, but with a VAE of four down blocks (8x downscale,
# as in real Stable Diffusion): a 2-block VAE decodes ~25x slower at 256 px.
TINY_SD_UNET: dict[str, Any] = {
    "block_out_channels": (32, 64),
    "layers_per_block": 2,
    "sample_size": 32,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "cross_attention_dim": 32,
    "norm_num_groups": 32,
}
TINY_SD_VAE: dict[str, Any] = {
    "block_out_channels": (32, 32, 64, 64),
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "latent_channels": 4,
    "layers_per_block": 1,
    "norm_num_groups": 32,
    "sample_size": 256,
}
TINY_SD_TEXT_ENCODER: dict[str, Any] = {
    "bos_token_id": 0,
    "eos_token_id": 2,
    "hidden_size": 32,
    "intermediate_size": 37,
    "layer_norm_eps": 1e-05,
    "num_attention_heads": 4,
    "num_hidden_layers": 5,
    "pad_token_id": 1,
    "vocab_size": 1000,
    "max_position_embeddings": 77,
}
# Stable Diffusion 1.x's noise schedule.
TINY_SD_SCHEDULER: dict[str, Any] = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "prediction_type": "epsilon",
}
TINY_SD_DEFAULTS: dict[str, Any] = {"width": 64, "height": 64, "steps": 10, "guidance": 7.5}
# Cost model fitted with `make bench-inference` (one torch thread): a UNet call costs
# 460 + L + L*L // 3500 units of ~25 us, L latent pixels (self-attention: 1.3 units per latent
# pixel at 256 px, 5.7 at 1024 px), the VAE decode 19 units per latent pixel. Over the bench's
# grid (64-768 px, 2-40 steps) the rate varied 1.39x; the slowest in two runs, 31,841 units per
# CPU second on the project's 2-core machine, rounds down to MEASURED.
TINY_SD_MEASURED_UNITS_PER_S = 30_000
TINY_SD_BUDGET = DiffusionBudget.from_measurement(
    TINY_SD_MEASURED_UNITS_PER_S,
    attention_latent_pixels=3500,
    evaluation_overhead=460,
    decode_evaluations=19,
)

TINY_LLAMA_CONFIG: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-6,
    # Untied embeddings and a wide init, or a random Llama repeats one token forever.
    "tie_word_embeddings": False,
    "initializer_range": 0.3,
}

# A generated token costs ~64 prompt tokens (a whole forward pass, mostly per-step overhead,
# against a slice of one batched pass). Slowest rate over the bench's grid: 22,301 units per CPU
# second (16 new tokens, where the fixed cost of a call shows); beams are over-counted (4 beams
# ran at 103k/s), which only errs on the safe side.
TINY_LLAMA_MEASURED_UNITS_PER_S = 22_000
TINY_LLAMA_BUDGET = CausalLMBudget.from_measurement(
    TINY_LLAMA_MEASURED_UNITS_PER_S, generated_token_weight=64
)

_BYTE_TOKENIZER_SPECIALS = ("<s>", "</s>", "<pad>")
_TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}<s>{{ message['role'] }}\n{{ message['content'] }}</s>\n"
    "{% endfor %}{% if add_generation_prompt %}<s>assistant\n{% endif %}"
)


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map, which CLIP's BPE uses too."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    codes = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {byte: chr(code) for byte, code in zip(printable, codes, strict=True)}


def _clip_tokenizer() -> Any:
    """A byte-level CLIP tokenizer with no merges, built in memory (no vocabulary download)."""
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {}
    for char in _bytes_to_unicode().values():
        vocab[char] = len(vocab)
    for char in _bytes_to_unicode().values():
        vocab[char + "</w>"] = len(vocab)
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def build_tiny_sd(folder: Path) -> ModelManifest:
    """Build the tiny Stable Diffusion pipeline into ``folder`` and write its manifest."""
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModel

    library: Any = diffusers  # diffusers' constructors are untyped

    torch.manual_seed(TINY_SD_SEED)
    unet = library.UNet2DConditionModel(**TINY_SD_UNET)
    torch.manual_seed(TINY_SD_SEED + 1)
    vae = library.AutoencoderKL(**TINY_SD_VAE)
    torch.manual_seed(TINY_SD_SEED + 2)
    text_encoder = CLIPTextModel(CLIPTextConfig(**TINY_SD_TEXT_ENCODER))
    scheduler = library.DDIMScheduler(**TINY_SD_SCHEDULER)
    pipeline = library.StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=_clip_tokenizer(),
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(folder, safe_serialization=True)
    model_index = json.loads((folder / "model_index.json").read_text())
    scheme, default_tolerance, max_tolerance = calibrated("tiny-sd", "phash64")
    return create_manifest(
        folder,
        name="tiny-sd",
        kind="image",
        pipeline={"class": "StableDiffusionPipeline", "config": model_index},
        scheduler={"class": "DDIMScheduler", "config": public_config(scheduler.config)},
        digest_scheme=scheme,
        default_tolerance=default_tolerance,
        max_tolerance=max_tolerance,
        libraries=IMAGE_LIBRARIES,
        defaults=TINY_SD_DEFAULTS,
        description="Tiny Stable Diffusion from fixed seeds (random weights), for offline tests.",
        compute_budget=TINY_SD_BUDGET,
        input_tolerance=calibrated_input_tolerance("tiny-sd"),
    )


def _byte_tokenizer() -> Any:
    """A byte-level BPE tokenizer (no merges) with a small chat template, built in memory."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {char: index for index, char in enumerate(_bytes_to_unicode().values())}
    for special in _BYTE_TOKENIZER_SPECIALS:
        vocab[special] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    fast_tokenizer: Any = PreTrainedTokenizerFast
    tokenizer = fast_tokenizer(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        model_max_length=2048,
    )
    tokenizer.chat_template = _TINY_CHAT_TEMPLATE
    return tokenizer


def build_tiny_llama(folder: Path) -> ModelManifest:
    """Build the tiny Llama and its byte tokenizer into ``folder`` and write its manifest."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _byte_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **TINY_LLAMA_CONFIG,
    )
    torch.manual_seed(TINY_LLAMA_SEED)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    scheme, default_tolerance, max_tolerance = calibrated("tiny-llama", TEXT_SCHEME)
    return create_manifest(
        folder,
        name="tiny-llama",
        kind="text",
        pipeline={"class": "LlamaForCausalLM", "config": public_config(config.to_dict())},
        scheduler=None,
        digest_scheme=scheme,
        default_tolerance=default_tolerance,
        max_tolerance=max_tolerance,
        libraries=TEXT_LIBRARIES,
        defaults={"max_new_tokens": 32},
        description="Tiny Llama from fixed seeds (random weights), for offline tests.",
        compute_budget=TINY_LLAMA_BUDGET,
    )
