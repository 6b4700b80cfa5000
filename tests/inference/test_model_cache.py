"""One model cache whatever the entry point, and `genoracle models list` says what a node serves.

The command runs as a real process without GENORACLE_HOME (as a newcomer types it, outside
make), from a directory outside the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inference.home import genoracle_home
from inference.manifest import ModelManifest, load_manifest
from inference.models import resolve_model_folder

REPO = Path(__file__).resolve().parents[2]
GENORACLE = str(Path(sys.executable).parent / "genoracle")


def _models_list(cwd: Path, home: Path | None = None) -> dict[str, dict[str, object]]:
    env = {key: value for key, value in os.environ.items() if key != "GENORACLE_HOME"}
    if home is not None:
        env["GENORACLE_HOME"] = str(home)
    listed = subprocess.run(
        [GENORACLE, "models", "list", "--json"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    return {row["name"]: row for row in map(json.loads, listed.stdout.splitlines())}


def test_the_command_and_make_share_the_checkout_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make` used .genoracle in the checkout and the bare command ~/.cache/genoracle: two caches,
    and `models list` said "not built" for what make had built."""
    monkeypatch.delenv("GENORACLE_HOME", raising=False)
    assert genoracle_home() == REPO / ".genoracle"
    built = resolve_model_folder("tiny-llama")  # in the cache every entry point uses
    rows = _models_list(tmp_path)
    assert rows["tiny-llama"]["folder"] == str(REPO / ".genoracle" / "models" / "tiny-llama")
    assert rows["tiny-llama"]["built"] is True
    assert rows["tiny-llama"]["model_id"] == load_manifest(built).model_id_hex


def test_models_list_shows_the_id_a_node_serves_for_a_stale_manifest(tmp_path: Path) -> None:
    """A build cached before the compute budget existed: its next load rewrites the manifest
    (a new modelId); the list used to print the old id, which no node serves."""
    current = load_manifest(resolve_model_folder("tiny-llama"))
    home = tmp_path / "home"
    stale_folder = home / "models" / "tiny-llama"
    shutil.copytree(resolve_model_folder("tiny-llama"), stale_folder)
    stale = ModelManifest.model_validate(
        current.model_copy(update={"compute_budget": None}).model_dump()
    )
    stale.save(stale_folder)
    assert stale.model_id != current.model_id

    row = _models_list(tmp_path, home)["tiny-llama"]
    assert row["model_id"] == current.model_id_hex
    assert row["stale"] is True and row["cached_model_id"] == stale.model_id_hex
    assert load_manifest(stale_folder).model_id == stale.model_id  # listing writes nothing
