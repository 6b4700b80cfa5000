"""Shared fixtures of the inference tests: a model cache that survives between runs."""

from __future__ import annotations

import os

# OpenMP threads that spin-wait for a busy core make a 2-thread torch run 10-20x slower on a
# shared machine (the training tests run one); passive waiting changes no result. libgomp reads
# this when torch loads, so it is set before anything imports torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from collections.abc import Iterator
from pathlib import Path

import pytest

from inference.models import models_dir


@pytest.fixture(scope="session", autouse=True)
def model_cache() -> Iterator[Path]:
    """Built models are cached in the genoracle home (the checkout's .genoracle by default,
    inference/home.py), shared with make, the CLI and the node processes."""
    folder = models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
