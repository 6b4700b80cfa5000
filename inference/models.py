"""The model registry: where a model comes from, how it is built or fetched, verified and cached.

Sources, tried in this order by ``load_model(name_or_path)``:

1. a built-in model name (``builtin_model_names()``): built on first use under
   ``<genoracle home>/models/<name>`` (inference/home.py) and checked against the weights hashes
   pinned in code;
2. a local folder holding a ``manifest.json`` (``genoracle models manifest FOLDER`` writes one);
3. a hub id ``owner/name`` when the hub may be used (``HF_HUB_OFFLINE`` unset): downloaded once
   under ``<genoracle home>/models/hub--owner--name`` and given a manifest.

Every load verifies every file against the manifest and refuses a mismatch. Other packages add
built-in models with ``register_builtin`` (Digits-Gen, from ``inference.digits.builtin``).

Long module: the three sources share one build lock, one verification and one cache, and a model
loaded by any of them must pass the same checks; apart, each would need the others' internals.
"""

from __future__ import annotations

import fcntl
import importlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from inference.compute_budget import CausalLMBudget, DiffusionBudget
from inference.digests import TEXT_SCHEME, Tolerance
from inference.errors import ManifestError, ModelIntegrityError, ModelNotFoundError
from inference.home import genoracle_home
from inference.manifest import (
    IMAGE_LIBRARIES,
    MANIFEST_FILE,
    TEXT_LIBRARIES,
    ModelManifest,
    create_manifest,
    load_manifest,
    public_config,
)
from inference.specs import complete_defaults
from inference.tolerances import calibrated, calibrated_input_tolerance

if TYPE_CHECKING:  # the backends import torch: only a model's load does (a fast CLI)
    from inference.backends import Backend, ImageBackend, TextBackend

log = logging.getLogger(__name__)

BUILTIN_PROVIDERS: tuple[str, ...] = ("inference.builtin_models", "inference.digits.builtin")
"""Modules that register built-in models when imported; a missing provider is skipped."""


def models_dir() -> Path:
    """The folder holding one sub-folder per cached model (under the genoracle home)."""
    return genoracle_home() / "models"


@dataclass(frozen=True)
class BuiltinModel:
    """A model the project can make offline, pinned by the sha256 of its weights files."""

    name: str
    kind: Literal["image", "text"]
    description: str
    build: Callable[[Path], ModelManifest]
    """Write every file and the manifest into the given empty folder."""
    pinned_files: Mapping[str, str] = field(default_factory=dict)
    """{relative path: sha256} that a build must reproduce (library versions as locked)."""
    compute_budget: DiffusionBudget | CausalLMBudget | None = None
    """The manifest's compute budget; a cached build with another one (or none: built before
    budgets existed) gets this one on its next load. None keeps what the build wrote."""


_BUILTINS: dict[str, BuiltinModel] = {}
_PROVIDERS_LOADED = False
_PROVIDERS_LOCK = threading.Lock()


def register_builtin(model: BuiltinModel) -> None:
    """Add (or replace) a built-in model."""
    _BUILTINS[model.name] = model


def _load_providers() -> None:
    global _PROVIDERS_LOADED
    with _PROVIDERS_LOCK:
        if _PROVIDERS_LOADED:
            return
        for provider in BUILTIN_PROVIDERS:
            try:
                importlib.import_module(provider)
            except ModuleNotFoundError as exc:
                if exc.name != provider:
                    raise
                log.debug("built-in model provider %s is not installed", provider)
        _PROVIDERS_LOADED = True


def builtin_models() -> dict[str, BuiltinModel]:
    """Every registered built-in model by name."""
    _load_providers()
    return dict(_BUILTINS)


def builtin_model_names() -> list[str]:
    """Names of the built-in models (tiny-sd, tiny-llama, smollm2-135m, digits when present)."""
    return sorted(builtin_models())


@contextmanager
def _build_lock(name: str) -> Iterator[None]:
    """One builder per model across processes (tests and nodes may start at once)."""
    directory = models_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / f".{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_pins(model: BuiltinModel, manifest: ModelManifest) -> None:
    for path, pinned in sorted(model.pinned_files.items()):
        built = manifest.files.get(path)
        if built != pinned:
            raise ModelIntegrityError(
                f"built-in {model.name}: {path} has sha256 {built}, pinned {pinned}; the build "
                f"is not reproducible with these library versions "
                f"({', '.join(f'{k} {v}' for k, v in sorted(manifest.library_versions.items()))})"
                f"; install the versions in requirements.lock"
            )


def current_manifest(
    model: BuiltinModel, manifest: ModelManifest
) -> tuple[ModelManifest, list[str]]:
    """A cached build's manifest as its next load makes it, and the fields that load changes.

    The study may calibrate the tolerances (inference/tolerances.json), and the benchmark the
    compute budget, after the model was built; a build from before complete defaults gets every
    omitted field's value written in. Each changes the modelId. Nothing is written."""
    default_scheme = TEXT_SCHEME if manifest.kind == "text" else manifest.digest_scheme
    scheme, default, maximum = calibrated(model.name, default_scheme)
    update: dict[str, object] = {}
    wanted = (scheme, default.lanes, maximum.lanes)
    if (manifest.digest_scheme, manifest.default_tolerance, manifest.max_tolerance) != wanted:
        update |= {
            "digest_scheme": scheme,
            "default_tolerance": default.lanes,
            "max_tolerance": maximum.lanes,
        }
    if model.compute_budget is not None and manifest.compute_budget != model.compute_budget:
        update["compute_budget"] = model.compute_budget
    if manifest.kind == "image":
        rule = calibrated_input_tolerance(model.name)
        if rule != manifest.input_tolerance:
            update["input_tolerance"] = rule
    defaults = complete_defaults(manifest.kind, manifest.defaults)
    if defaults != manifest.defaults:
        update["defaults"] = defaults
    if not update:
        return manifest, []
    updated = ModelManifest.model_validate(manifest.model_copy(update=update).model_dump())
    return updated, sorted(update)


def _refresh_manifest(model: BuiltinModel, folder: Path, manifest: ModelManifest) -> ModelManifest:
    """Bring a cached build's manifest up to date without rebuilding the weights."""
    updated, changed = current_manifest(model, manifest)
    if changed:
        updated.save(folder)
        log.info("%s: manifest updated (%s)", model.name, ", ".join(changed))
    return updated


def build_builtin(name: str, *, force: bool = False) -> Path:
    """Build a built-in model into the cache unless it is there; returns its folder."""
    models = builtin_models()
    if name not in models:
        raise ModelNotFoundError(
            f"no built-in model {name!r}; built-in models: {', '.join(sorted(models))}"
        )
    model = models[name]
    folder = models_dir() / name
    with _build_lock(name):
        if force and folder.exists():
            shutil.rmtree(folder)
        if not (folder / MANIFEST_FILE).is_file():
            staging = models_dir() / f".{name}.building"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            log.info("building %s into %s", name, folder)
            manifest = model.build(staging)
            _check_pins(model, manifest)
            shutil.rmtree(folder, ignore_errors=True)
            staging.rename(folder)
        manifest = load_manifest(folder)
        _check_pins(model, manifest)
        _refresh_manifest(model, folder, manifest)
    return folder


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def import_folder(
    folder: Path,
    name: str | None = None,
    compute_budget: DiffusionBudget | CausalLMBudget | None = None,
) -> ModelManifest:
    """Write a manifest for a diffusers pipeline or transformers causal-LM folder.

    The compute budget cannot be guessed from the files (it is the throughput of the slowest
    hardware the model is meant to run on): without one the manifest loads and runs, but a node
    refuses to serve the model."""
    label = name or folder.name
    if (folder / "model_index.json").is_file():
        index = json.loads((folder / "model_index.json").read_text())
        scheduler_file = folder / "scheduler" / "scheduler_config.json"
        scheduler = json.loads(scheduler_file.read_text()) if scheduler_file.is_file() else None
        scheme, default, maximum = calibrated(label, "phash64")
        return create_manifest(
            folder,
            name=label,
            kind="image",
            pipeline={"class": index.get("_class_name", "DiffusionPipeline"), "config": index},
            scheduler=(
                {"class": scheduler.get("_class_name"), "config": public_config(scheduler)}
                if scheduler
                else None
            ),
            digest_scheme=scheme,
            default_tolerance=default,
            max_tolerance=maximum,
            libraries=IMAGE_LIBRARIES,
            compute_budget=compute_budget,
        )
    config_file = folder / "config.json"
    if config_file.is_file():
        config = json.loads(config_file.read_text())
        architectures = config.get("architectures") or []
        causal = [a for a in architectures if str(a).endswith("ForCausalLM")]
        if causal:
            scheme, default, maximum = calibrated(label, TEXT_SCHEME)
            return create_manifest(
                folder,
                name=label,
                kind="text",
                pipeline={"class": causal[0], "config": public_config(config)},
                scheduler=None,
                digest_scheme=scheme,
                default_tolerance=default,
                max_tolerance=maximum,
                libraries=TEXT_LIBRARIES,
                compute_budget=compute_budget,
            )
    raise ManifestError(
        f"{folder} is neither a diffusers pipeline (model_index.json) nor a causal LM "
        f"(config.json with a *ForCausalLM architecture)"
    )


def _fetch_from_hub(repo_id: str) -> Path:
    if _hub_offline():
        raise ModelNotFoundError(
            f"{repo_id!r} is not a built-in model or a local folder, and HF_HUB_OFFLINE is set"
        )
    from huggingface_hub import snapshot_download

    folder = models_dir() / ("hub--" + repo_id.replace("/", "--"))
    with _build_lock("hub--" + repo_id.replace("/", "--")):
        if not (folder / MANIFEST_FILE).is_file():
            try:
                snapshot_download(repo_id, local_dir=folder)
            except Exception as exc:
                raise ModelNotFoundError(
                    f"cannot download {repo_id!r} from the hub: {exc}"
                ) from exc
            shutil.rmtree(folder / ".cache", ignore_errors=True)
            import_folder(folder, repo_id)
    return folder


def resolve_model_folder(name_or_path: str) -> Path:
    """The folder of a built-in name, a local path or a hub id (built or fetched if needed)."""
    if name_or_path in builtin_models():
        return build_builtin(name_or_path)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / MANIFEST_FILE).is_file():
            raise ModelNotFoundError(
                f"{path} has no {MANIFEST_FILE}; write one with 'genoracle models manifest {path}'"
            )
        return path
    if path.exists():
        raise ModelNotFoundError(f"{path} is a file; a model is a folder with a {MANIFEST_FILE}")
    parts = name_or_path.split("/")
    if len(parts) == 2 and all(parts):
        return _fetch_from_hub(name_or_path)
    raise ModelNotFoundError(
        f"unknown model {name_or_path!r}: not a built-in model "
        f"({', '.join(builtin_model_names())}), a folder or a hub id owner/name"
    )


@dataclass(frozen=True)
class LoadedModel:
    """A verified model ready to run."""

    manifest: ModelManifest
    folder: Path
    backend: Backend
    registered_id: bytes | None = None
    """A trained model's id on chain (inference.training.model), which is not its manifest's."""

    @property
    def name(self) -> str:
        """The manifest's model name."""
        return self.manifest.name

    @property
    def model_id(self) -> bytes:
        """The on-chain modelId: sha256 of the canonical manifest (of its trained-model manifest
        for a model trained by a training task)."""
        return self.registered_id or self.manifest.model_id

    @property
    def kind(self) -> Literal["image", "text"]:
        """ "image" or "text"."""
        return self.manifest.kind

    @property
    def tolerance(self) -> Tolerance:
        """The manifest's default tolerance."""
        return self.manifest.tolerance

    @property
    def image_backend(self) -> ImageBackend:
        """The backend of an image model (TypeError for a text model)."""
        if self.kind != "image":  # load_backend builds the backend of the manifest's kind
            raise TypeError(f"{self.name} is a {self.kind} model, not an image model")
        return cast("ImageBackend", self.backend)

    @property
    def text_backend(self) -> TextBackend:
        """The backend of a text model (TypeError for an image model)."""
        if self.kind != "text":
            raise TypeError(f"{self.name} is a {self.kind} model, not a text model")
        return cast("TextBackend", self.backend)


def load_model(name_or_path: str, *, strict_versions: bool = True) -> LoadedModel:
    """Resolve, verify every file hash, check library versions, and load a model.

    With ``strict_versions`` a library whose version differs from the manifest's is refused: it
    could change outputs and get an honest operator slashed.
    """
    folder = resolve_model_folder(name_or_path)
    manifest = load_manifest(folder)
    manifest.verify_files(folder)
    mismatches = manifest.version_mismatches()
    if mismatches:
        detail = ", ".join(f"{k} {p} pinned, {n} installed" for k, (p, n) in mismatches.items())
        if strict_versions:
            raise ManifestError(f"{manifest.name}: library versions differ: {detail}")
        log.warning("%s: library versions differ: %s", manifest.name, detail)
    from inference.backends import load_backend  # imports torch
    from inference.training.model import registered_model_id

    registered = registered_model_id(folder, manifest)
    backend = load_backend(folder, manifest)
    return LoadedModel(manifest=manifest, folder=folder, backend=backend, registered_id=registered)


class ModelCache:
    """Loads each model once per process and hands the same LoadedModel to every caller."""

    def __init__(self) -> None:
        self._models: dict[str, LoadedModel] = {}
        self._by_id: dict[bytes, LoadedModel] = {}
        self._lock = threading.Lock()

    def get(self, name_or_path: str) -> LoadedModel:
        """The loaded model, loading it on first use."""
        with self._lock:
            model = self._models.get(name_or_path)
            if model is None:
                model = load_model(name_or_path)
                self._models[name_or_path] = model
                self._by_id[model.model_id] = model
            return model

    def by_model_id(self, model_id: bytes) -> LoadedModel | None:
        """A model already loaded under this on-chain modelId, if any."""
        with self._lock:
            return self._by_id.get(model_id)

    def loaded(self) -> list[LoadedModel]:
        """The models loaded so far."""
        with self._lock:
            return list(self._models.values())


_DEFAULT_CACHE = ModelCache()


def default_cache() -> ModelCache:
    """The process-wide model cache."""
    return _DEFAULT_CACHE
