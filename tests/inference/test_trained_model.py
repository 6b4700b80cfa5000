"""A trained model's folder: the base's files with the final checkpoint as its weights, loaded
under the id the chain registered it by (sha256 of its trained-model manifest)."""

from __future__ import annotations

import json
from hashlib import sha256
from pathlib import Path

import pytest

from inference.digits.shipped import WEIGHTS_FILE
from inference.errors import ModelIntegrityError
from inference.models import load_model, resolve_model_folder
from inference.training.model import TRAINED_MANIFEST, write_trained_model
from oracle.chain.training import trained_manifest, trained_model_id


def test_a_trained_model_loads_under_its_registered_id(tmp_path: Path) -> None:
    base_folder = resolve_model_folder("digits")
    weights = (base_folder / WEIGHTS_FILE).read_bytes()
    checkpoint = weights  # any Digits-Gen weights; here the base's own
    manifest = trained_manifest(
        b"\x02" * 32, b"\x03" * 32, b"\x04" * 32, 7, sha256(checkpoint).digest()
    )
    folder = tmp_path / "trained"
    written = write_trained_model(folder, base_folder, WEIGHTS_FILE, checkpoint, manifest)
    assert written.files[WEIGHTS_FILE] == sha256(checkpoint).hexdigest()
    assert TRAINED_MANIFEST in written.files and written.name.startswith("digits-ft-")
    loaded = load_model(str(folder))
    assert loaded.model_id == trained_model_id(manifest) != loaded.manifest.model_id
    assert loaded.manifest.digest_scheme == load_model("digits").manifest.digest_scheme


def test_weights_other_than_the_manifest_names_are_refused(tmp_path: Path) -> None:
    base_folder = resolve_model_folder("digits")
    manifest = trained_manifest(b"\x02" * 32, b"\x03" * 32, b"\x04" * 32, 7, b"\x05" * 32)
    with pytest.raises(ModelIntegrityError, match="sha256"):
        write_trained_model(tmp_path / "t", base_folder, WEIGHTS_FILE, b"other", manifest)
    record = json.loads(manifest)
    assert record["format"] == "genoracle.trained-model/1"
