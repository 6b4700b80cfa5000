"""Register a model in the oracle's model registry, from a built-in name or a model folder.

    registration = register_model(owner_client, "tiny-sd")   # or a folder with a manifest.json
    print(registration.model_id.hex(), registration.already_registered)

The registry takes the terms from the model's manifest: its id (the sha256 of the canonical
manifest), kind, digest scheme, default tolerance (the honest floor) and maximum; an auditable
model also its audit tolerance (the audited mode's floor, from the audit study). Only the
registry's owner (the deployer, unless `genoracle deploy --owner` named another) may register;
another key is refused here, before any transaction, with both addresses named.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils.address import to_checksum_address

from inference.audit.calibrated import audit_tolerance
from inference.errors import InferenceError
from inference.manifest import MANIFEST_FILE, ModelManifest, load_manifest
from inference.models import builtin_models, models_dir, resolve_model_folder
from oracle.chain.client import ChainClient
from oracle.chain.views import ModelKind, read_model
from oracle.errors import OracleError


class ModelRegistrationError(OracleError):
    """The model cannot be registered (not the owner, no compute budget, ...)."""


@dataclass(frozen=True)
class ModelRegistration:
    """A model as the registry holds it, and the transaction that put it there."""

    name: str
    model_id: bytes
    kind: str
    digest_scheme: str
    default_tolerance: tuple[int, int, int, int]
    max_tolerance: tuple[int, int, int, int]
    audit_tolerance: tuple[int, int, int, int] | None
    """The audited mode's per-lane tolerance (None: the model cannot be audited)."""
    metadata_uri: str
    tx_hash: str | None
    """None when the model was registered already (nothing was sent)."""

    @property
    def already_registered(self) -> bool:
        return self.tx_hash is None


def metadata_uri(model: str, manifest: ModelManifest) -> str:
    """What the registry records as the model's origin: a built-in name, or the manifest name."""
    if model in builtin_models():
        return f"genoracle:builtin/{model}"
    return f"genoracle:model/{manifest.name}"


def register_model(owner: ChainClient, model: str) -> ModelRegistration:
    """Register MODEL (a built-in name, built on first use, or a model folder) with its
    manifest's terms, signed by `owner`'s account; a model registered already is left as it is.
    An auditable model (inference/audit/calibrated.py) also gets its audit tolerance, where the
    registry does not hold it yet."""
    manifest = load_manifest(resolve_model_folder(model))
    uri = metadata_uri(model, manifest)
    audit = audit_tolerance(manifest.name)
    model_id = bytes(manifest.model_id)
    sent: list[str] = []
    registry = owner.registry()
    if read_model(owner, model_id) is None:
        if manifest.compute_budget is None:
            raise ModelRegistrationError(
                f"{model}: its manifest has no compute budget, so no node would serve it; write "
                "one with `genoracle models manifest FOLDER --budget ...` (it changes the modelId)"
            )
        _check_registry_owner(owner, registry)
        receipt = registry.transact(
            "registerModel",
            manifest.model_id,
            ModelKind.IMAGE if manifest.kind == "image" else ModelKind.TEXT,
            manifest.digest_scheme,
            manifest.tolerance.to_uint32(),
            manifest.maximum_tolerance.to_uint32(),
            uri,
        )
        sent.append(receipt["transactionHash"].to_0x_hex())
    if audit is not None and int(registry.view("auditToleranceOf", model_id)) == 0:
        _check_registry_owner(owner, registry)
        receipt = registry.transact("setAuditTolerance", model_id, audit.to_uint32())
        sent.append(receipt["transactionHash"].to_0x_hex())
    return ModelRegistration(
        name=manifest.name,
        model_id=model_id,
        kind=manifest.kind,
        digest_scheme=manifest.digest_scheme,
        default_tolerance=manifest.tolerance.lanes,
        max_tolerance=manifest.maximum_tolerance.lanes,
        audit_tolerance=None if audit is None else audit.lanes,
        metadata_uri=uri,
        tx_hash=sent[0] if sent else None,
    )


def _check_registry_owner(owner: ChainClient, registry: ChainClient) -> None:
    """Refuse, before any transaction, a key that is not the registry owner's."""
    if owner.account is None:
        raise ModelRegistrationError(
            "registering a model needs the registry owner's key: configure [account] or set "
            "GENORACLE_PRIVATE_KEY"
        )
    registry_owner = to_checksum_address(str(registry.view("owner")))
    if registry_owner != owner.account.address:
        raise ModelRegistrationError(
            f"only the model registry's owner {registry_owner} may register models; the "
            f"configured key is {owner.account.address}: sign with the deployer's key (or the "
            "--owner given to `genoracle deploy`)"
        )


def local_manifest(model: str | bytes, model_id: bytes) -> ModelManifest | None:
    """The manifest of `model_id` where this machine has it: the named model's (a built-in name
    or a folder) or a cached model's with that id; None for a requester without the model."""
    if isinstance(model, str) and not model.strip().startswith("0x"):
        manifest = load_manifest(resolve_model_folder(model.strip()))
        return manifest if manifest.model_id == model_id else None
    folder = models_dir()
    if not folder.is_dir():
        return None
    for candidate in sorted(folder.glob(f"*/{MANIFEST_FILE}")):
        try:
            manifest = load_manifest(candidate.parent)
        except InferenceError:
            continue  # a half-built or foreign folder is not this model
        if manifest.model_id == model_id:
            return manifest
    return None
