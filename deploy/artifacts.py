"""Load the committed contract artifacts (ABI, bytecode, metadata) without any compiler."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any, TypedDict

from deploy.errors import ArtifactNotFoundError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"


class CompilerInfo(TypedDict):
    name: str
    version: str
    settings: dict[str, Any]


class Artifact(TypedDict):
    """One compiled contract as written by deploy.compile."""

    contractName: str
    sourceName: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployedBytecode: str
    metadata: str
    compiler: CompilerInfo


def render_artifact(artifact: dict[str, Any] | Artifact) -> str:
    """The canonical file text of an artifact (sorted keys, two-space indent, final newline)."""
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def artifact_names(directory: Path = ARTIFACTS_DIR) -> list[str]:
    """Contract names that have a committed artifact."""
    return sorted(path.stem for path in directory.glob("*.json"))


@cache
def load_artifact(name: str, directory: Path = ARTIFACTS_DIR) -> Artifact:
    """The artifact of contract `name` (e.g. "GenerationOracle")."""
    path = directory / f"{name}.json"
    if not path.is_file():
        known = ", ".join(artifact_names(directory)) or "none"
        raise ArtifactNotFoundError(f"no artifact named {name!r} in {directory} (known: {known})")
    artifact: Artifact = json.loads(path.read_text(encoding="utf-8"))
    return artifact


def artifact_hash(name: str, directory: Path = ARTIFACTS_DIR) -> str:
    """sha256 of the artifact file, recorded with deployments to tell which build is on chain."""
    path = directory / f"{name}.json"
    load_artifact(name, directory)  # raises a clear error if missing
    return "0x" + hashlib.sha256(path.read_bytes()).hexdigest()
