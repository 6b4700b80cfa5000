"""Shared fixtures of the inference tests: a model cache that survives between runs."""

from __future__ import annotations

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
