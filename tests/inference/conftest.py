"""Shared fixtures of the inference tests: a model cache that survives between runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def genoracle_home() -> Iterator[Path]:
    """Built models are cached in $GENORACLE_HOME (the Makefile's .genoracle by default)."""
    home = Path(os.environ.setdefault("GENORACLE_HOME", str(REPO / ".genoracle")))
    home.mkdir(parents=True, exist_ok=True)
    yield home
