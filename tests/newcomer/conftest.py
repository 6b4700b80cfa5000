"""The README walks' fixture: an empty folder, `.venv/bin` first on the PATH, the deployment
records in a temporary folder, and whatever the commands started stopped at the end."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from newcomer_lib import ROOT, Shell


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GENORACLE_DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
        "PYTHONPATH": str(ROOT),
    }
    folder = tmp_path / "work"
    folder.mkdir()
    runner = Shell(folder, env)
    yield runner
    runner.stop_all()
