"""The Digits-Gen network and noise schedule: one definition shared by training and sampling."""

from __future__ import annotations

from typing import Any

import diffusers

IMAGE_SIZE = 16
NUM_CLASSES = 10
TRAIN_TIMESTEPS = 1000

UNET_CONFIG: dict[str, Any] = {
    "sample_size": IMAGE_SIZE,
    "in_channels": 1,
    "out_channels": 1,
    "block_out_channels": (32, 64, 64),
    "layers_per_block": 1,
    "down_block_types": ("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
    "num_class_embeds": NUM_CLASSES,
    "norm_num_groups": 16,
    "attention_head_dim": 16,
}

SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": TRAIN_TIMESTEPS,
    "beta_schedule": "squaredcos_cap_v2",
    "prediction_type": "epsilon",
    "clip_sample": True,
}


# diffusers ships no type information; its classes are used through an Any-typed handle.
_diffusers: Any = diffusers


def build_unet() -> Any:
    """A freshly initialised UNet2DModel (the caller seeds torch first for reproducible weights)."""
    return _diffusers.UNet2DModel(**UNET_CONFIG)


def build_training_scheduler() -> Any:
    """The forward-noising DDPMScheduler the network is trained against."""
    return _diffusers.DDPMScheduler(**SCHEDULER_CONFIG)
