"""A trained model as a model folder: the base model's folder with the final checkpoint as its
weights, plus the chain's trained-model manifest (``TRAINED_MANIFEST``).

TrainingTasks registers a completed fine-tune under sha256 of its trained-model manifest
(``oracle.chain.training.trained_manifest``: base model id, data and spec sha256, task id, weights
sha256), not of a model manifest: the base model's manifest pins everything else that decides the
outputs (code, scheduler, digest scheme, tolerances, libraries), and the fine-tune changes only the
weights. So the folder's ``manifest.json`` is the base's with the new weights' hash and the
trained-model manifest among its files, and ``registered_model_id`` gives the id the chain knows
it by: sha256 of that file, once its weights sha256 is the one the folder's manifest pins.
"""

from __future__ import annotations

import json
import shutil
from hashlib import sha256
from pathlib import Path

from inference.errors import ModelIntegrityError
from inference.manifest import MANIFEST_FILE, ModelManifest, hash_folder, load_manifest

TRAINED_MANIFEST = "trained-model.json"
TRAINED_FORMAT = "genoracle.trained-model/1"


def write_trained_model(
    folder: Path, base_folder: Path, weights_file: str, checkpoint: bytes, trained_manifest: bytes
) -> ModelManifest:
    """Write the trained model's folder (its weights are `checkpoint`); returns its manifest."""
    record = json.loads(trained_manifest)
    if record.get("format") != TRAINED_FORMAT:
        raise ModelIntegrityError(f"not a trained-model manifest ({TRAINED_FORMAT})")
    if record.get("weights_sha256") != sha256(checkpoint).hexdigest():
        raise ModelIntegrityError(
            f"the checkpoint has sha256 {sha256(checkpoint).hexdigest()}, the trained-model "
            f"manifest names {record.get('weights_sha256')}"
        )
    base = load_manifest(base_folder)
    staging = folder.with_name(f".{folder.name}.building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in base.files:
        if name != weights_file:
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(base_folder / name, target)
    (staging / weights_file).write_bytes(checkpoint)
    (staging / TRAINED_MANIFEST).write_bytes(trained_manifest)
    model_id = sha256(trained_manifest).hexdigest()
    manifest = ModelManifest.model_validate(
        base.model_copy(
            update={
                "name": f"{base.name}-ft-{model_id[:12]}",
                "files": hash_folder(staging),
                "description": f"{base.name} fine-tuned by training task "
                f"{record.get('training_task')} (registered model 0x{model_id})",
            }
        ).model_dump()
    )
    manifest.save(staging)
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(folder)
    return manifest


def registered_model_id(folder: Path, manifest: ModelManifest) -> bytes | None:
    """The id the chain registered a trained model folder under (sha256 of its trained-model
    manifest), or None for a folder that is not a trained model. Refuses a trained-model manifest
    whose weights are not among the folder's (verified) files."""
    path = folder / TRAINED_MANIFEST
    if TRAINED_MANIFEST not in manifest.files or not path.is_file():
        return None
    data = path.read_bytes()
    try:
        record = json.loads(data)
    except ValueError:
        raise ModelIntegrityError(f"{path} is not JSON") from None
    if record.get("format") != TRAINED_FORMAT:
        raise ModelIntegrityError(f"{path} is not a trained-model manifest")
    if record.get("weights_sha256") not in manifest.files.values():
        raise ModelIntegrityError(
            f"{path} names weights {record.get('weights_sha256')}, which the folder's "
            f"{MANIFEST_FILE} does not pin"
        )
    return sha256(data).digest()
