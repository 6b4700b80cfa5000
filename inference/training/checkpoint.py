"""Checkpoints as canonical bytes: safetensors of the network's state, keys sorted, no metadata.

safetensors writes a metadata map in hash-map order (``inference.digits.train.save_weights``), so
none is written: the same weights always serialise to the same bytes and the same sha256, which
is what a member commits and what peers check a downloaded checkpoint against.
"""

from __future__ import annotations

from hashlib import sha256
from typing import Any

import torch
from safetensors.torch import load, save

from inference.digits.model import build_unet
from inference.errors import InferenceError

Weights = dict[str, torch.Tensor]


class CheckpointError(InferenceError, ValueError):
    """Checkpoint bytes that do not decode, or whose sha256 differs from the one expected."""


def checkpoint_bytes(weights: Weights) -> bytes:
    """The canonical serialisation of a state dict (contiguous tensors, keys sorted)."""
    return save({name: weights[name].detach().contiguous() for name in sorted(weights)})


def checkpoint_sha256(data: bytes) -> str:
    return sha256(data).hexdigest()


def load_checkpoint(data: bytes, expected_sha256: str | None = None) -> Weights:
    """Decode checkpoint bytes, checking their sha256 first when one is expected."""
    if expected_sha256 is not None and checkpoint_sha256(data) != expected_sha256:
        raise CheckpointError(
            f"checkpoint has sha256 {checkpoint_sha256(data)}, expected {expected_sha256}"
        )
    try:
        return dict(load(data))
    except Exception as exc:  # safetensors raises its own SafetensorError
        raise CheckpointError(f"checkpoint bytes do not decode as safetensors: {exc}") from None


def unet_from(weights: Weights) -> Any:
    """A Digits-Gen network holding these weights (strict: every key must match)."""
    unet = build_unet()
    try:
        unet.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint does not fit Digits-Gen: {exc}") from None
    return unet
