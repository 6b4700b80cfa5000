"""Where genoracle keeps what it makes (built models, study samples, deployment records): one
folder, whatever the entry point (`make`, the `genoracle` command, a node process, the tests).

It is ``$GENORACLE_HOME`` when set; otherwise ``.genoracle`` in the source checkout the code runs
from (a clone, or an editable install such as the one `make` creates); otherwise ``~/.genoracle``
(an installed package). Light on purpose: the deploy package reads it too (deployment records
live under it), and importing it loads no model library.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

HOME_ENV = "GENORACLE_HOME"
HOME_FOLDER = ".genoracle"
PROJECT_NAME = "genoracle"


def source_checkout() -> Path | None:
    """The root of the genoracle source tree this code runs from, or None for an installed
    package (the root holds the pyproject.toml of project `genoracle`)."""
    root = Path(__file__).resolve().parents[1]
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    name = project.get("project", {}).get("name")
    return root if name == PROJECT_NAME else None


def genoracle_home() -> Path:
    """$GENORACLE_HOME, else the checkout's .genoracle, else ~/.genoracle."""
    configured = os.environ.get(HOME_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    root = source_checkout()
    return (root if root is not None else Path.home()) / HOME_FOLDER
