"""Model manifests: everything that decides a model's outputs, pinned in one canonical JSON.

A model folder holds its files and a ``manifest.json``. The manifest lists the sha256 of every
file in the folder, the pipeline (or model) class and its config, the scheduler and its config,
the dtype, the digest scheme with its default and maximum tolerance, the versions of the
libraries that change outputs, and the compute budget (``inference.compute_budget``: what an
input may cost, so that every node refuses the same too-expensive inputs). ``modelId`` is the
sha256 of the canonical JSON of the manifest (sorted keys, no spaces, UTF-8): the id registered
on chain. Verifiers that load the same modelId
run the same weights under the same code, or ``verify_files`` refuses to load.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable, Mapping
from hashlib import sha256
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from inference.compute_budget import CausalLMBudget, ComputeBudget, DiffusionBudget
from inference.digests import IMAGE_SCHEMES, TEXT_SCHEME, Tolerance
from inference.errors import ManifestError, ModelIntegrityError
from inference.input_tolerance import InputTolerance
from inference.specs import DEFAULTABLE, complete_defaults

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "genoracle.model-manifest/1"
_HASH_CHUNK = 1 << 20

IMAGE_LIBRARIES = ("torch", "diffusers", "transformers", "numpy", "pillow", "scipy", "imagehash")
TEXT_LIBRARIES = ("torch", "transformers", "tokenizers")


def library_versions(names: Iterable[str]) -> dict[str, str]:
    """Installed versions of the named distributions, plus the Python version."""
    versions = {name: metadata.version(name) for name in names}
    versions["python"] = platform.python_version()
    return versions


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks so large weights do not fill memory."""
    digest = sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def hash_folder(folder: Path) -> dict[str, str]:
    """sha256 of every file under a folder (POSIX relative paths), the manifest itself excepted."""
    hashes: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and relative != MANIFEST_FILE and not _is_cache_file(relative):
            hashes[relative] = sha256_file(path)
    return hashes


def public_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A library config without its private ``_`` keys (some hold sets in arbitrary order)."""
    return {key: value for key, value in config.items() if not key.startswith("_")}


def _is_cache_file(relative: str) -> bool:
    # Hub downloads leave lock and metadata files, and save() stages the manifest: no model part.
    return (
        relative.startswith(".cache/")
        or relative.endswith(".lock")
        or relative.startswith(f".{MANIFEST_FILE}.")
    )


class ModelManifest(BaseModel):
    """The canonical description of a model; its sha256 is the on-chain modelId."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["genoracle.model-manifest/1"] = "genoracle.model-manifest/1"
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["image", "text"]
    files: dict[str, str]
    pipeline: dict[str, Any]
    scheduler: dict[str, Any] | None = None
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    digest_scheme: str
    default_tolerance: tuple[int, int, int, int]
    max_tolerance: tuple[int, int, int, int]
    library_versions: dict[str, str]
    defaults: dict[str, Any] = Field(default_factory=dict)
    description: str = ""
    compute_budget: ComputeBudget | None = None
    """What an input may cost (inference.compute_budget). A node serves no model without one;
    a manifest written before budgets existed has none and keeps its modelId (the key is left
    out of the canonical JSON when empty)."""
    input_tolerance: InputTolerance | None = None
    """What inputs that move honest re-runs further need above `default_tolerance`
    (inference.input_tolerance): guidance bands and scheduler extras. Left out of the canonical
    JSON when absent, so a model without one keeps its modelId."""

    @field_validator("files")
    @classmethod
    def _hex_hashes(cls, files: dict[str, str]) -> dict[str, str]:
        if not files:
            raise ValueError("a manifest must list at least one file")
        for name, value in files.items():
            if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
                raise ValueError(f"file {name!r}: {value!r} is not a lowercase hex sha256")
            if name.startswith("/") or ".." in Path(name).parts:
                raise ValueError(f"file {name!r} must be a relative path inside the model folder")
        return files

    @field_validator("pipeline")
    @classmethod
    def _has_class(cls, pipeline: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(pipeline.get("class"), str):
            raise ValueError("pipeline must name its 'class'")
        return pipeline

    @field_validator("default_tolerance", "max_tolerance")
    @classmethod
    def _byte_thresholds(cls, lanes: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        Tolerance.of(*lanes)
        return lanes

    def model_post_init(self, context: Any, /) -> None:
        unknown = sorted(set(self.defaults) - set(DEFAULTABLE[self.kind]))
        if unknown:
            raise ValueError(
                f"defaults {unknown} are not optional {self.kind} input fields; "
                f"known: {', '.join(DEFAULTABLE[self.kind])}"
            )
        expected_scheme = TEXT_SCHEME if self.kind == "text" else None
        if expected_scheme is not None and self.digest_scheme != expected_scheme:
            raise ValueError(f"a text model uses the {TEXT_SCHEME!r} scheme")
        if self.kind == "image" and self.digest_scheme not in IMAGE_SCHEMES:
            known = ", ".join(sorted(IMAGE_SCHEMES))
            raise ValueError(f"unknown image scheme {self.digest_scheme!r}; known: {known}")
        if any(d > m for d, m in zip(self.default_tolerance, self.max_tolerance, strict=True)):
            raise ValueError(
                f"default tolerance {self.default_tolerance} exceeds the maximum "
                f"{self.max_tolerance}"
            )
        if self.input_tolerance is not None and self.kind != "image":
            raise ValueError("input_tolerance rules guidance and schedulers: image models only")
        wanted: type[DiffusionBudget | CausalLMBudget]
        wanted, name = (
            (DiffusionBudget, "diffusion/1")
            if self.kind == "image"
            else (CausalLMBudget, "causal-lm/1")
        )
        if self.compute_budget is not None and not isinstance(self.compute_budget, wanted):
            raise ValueError(
                f"compute_budget: {self.kind} models price inputs with the {name!r} cost "
                f"model, not {self.compute_budget.cost_model!r}"
            )

    @property
    def tolerance(self) -> Tolerance:
        """The default tolerance as a Tolerance."""
        return Tolerance(self.default_tolerance)

    @property
    def maximum_tolerance(self) -> Tolerance:
        """The maximum tolerance as a Tolerance."""
        return Tolerance(self.max_tolerance)

    def _fields(self) -> dict[str, Any]:
        # An absent budget is left out, not written as null: the manifests written before
        # budgets existed keep their modelId.
        fields = self.model_dump(mode="json")
        for optional in ("compute_budget", "input_tolerance"):
            if fields.get(optional) is None:
                fields.pop(optional, None)
        return fields

    def canonical_json(self) -> bytes:
        """Sorted keys, no spaces, UTF-8: the bytes whose sha256 is the modelId."""
        return json.dumps(
            self._fields(),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        ).encode("utf-8")

    @property
    def model_id(self) -> bytes:
        """sha256 of the canonical JSON (32 bytes, the on-chain modelId)."""
        return sha256(self.canonical_json()).digest()

    @property
    def model_id_hex(self) -> str:
        """The modelId as 0x-prefixed hex."""
        return "0x" + self.model_id.hex()

    def save(self, folder: Path) -> Path:
        """Write ``manifest.json`` (indented for people; identity comes from canonical_json)."""
        path = folder / MANIFEST_FILE
        text = json.dumps(self._fields(), sort_keys=True, indent=2)
        # Written aside then renamed: a process loading the model never reads half a manifest.
        staging = path.with_name(f".{MANIFEST_FILE}.{os.getpid()}.tmp")
        staging.write_text(text + "\n", encoding="utf-8")
        os.replace(staging, path)
        return path

    def verify_files(self, folder: Path) -> None:
        """Refuse a folder whose files differ from the manifest (missing, extra or changed)."""
        for name, expected in sorted(self.files.items()):
            path = folder / name
            if not path.is_file():
                raise ModelIntegrityError(f"{self.name}: file {name} is missing from {folder}")
            actual = sha256_file(path)
            if actual != expected:
                raise ModelIntegrityError(
                    f"{self.name}: {name} has sha256 {actual}, the manifest pins {expected}; "
                    f"the file was changed or corrupted, rebuild or re-download the model"
                )
        extra = sorted(set(hash_folder(folder)) - set(self.files))
        if extra:
            raise ModelIntegrityError(
                f"{self.name}: files not in the manifest: {', '.join(extra)}; remove them"
            )

    def version_mismatches(self) -> dict[str, tuple[str, str]]:
        """Libraries whose installed version differs from the pinned one: {name: (pinned, now)}."""
        installed = library_versions(name for name in self.library_versions if name != "python")
        return {
            name: (pinned, installed[name])
            for name, pinned in self.library_versions.items()
            if installed.get(name, pinned) != pinned
        }


def load_manifest(folder: Path) -> ModelManifest:
    """Read and validate ``folder/manifest.json`` with an error that names what is wrong."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise ManifestError(f"{folder} has no {MANIFEST_FILE}")
    try:
        return ModelManifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise ManifestError(f"{path} is not a valid model manifest: {exc}") from exc


def create_manifest(
    folder: Path,
    *,
    name: str,
    kind: Literal["image", "text"],
    pipeline: Mapping[str, Any],
    scheduler: Mapping[str, Any] | None,
    digest_scheme: str,
    default_tolerance: Tolerance,
    max_tolerance: Tolerance,
    libraries: Iterable[str],
    dtype: Literal["float32", "float16", "bfloat16"] = "float32",
    defaults: Mapping[str, Any] | None = None,
    description: str = "",
    compute_budget: DiffusionBudget | CausalLMBudget | None = None,
    input_tolerance: InputTolerance | None = None,
) -> ModelManifest:
    """Hash every file of a finished model folder and write its manifest."""
    manifest = ModelManifest(
        name=name,
        kind=kind,
        files=hash_folder(folder),
        pipeline=dict(pipeline),
        scheduler=dict(scheduler) if scheduler is not None else None,
        dtype=dtype,
        digest_scheme=digest_scheme,
        default_tolerance=default_tolerance.lanes,
        max_tolerance=max_tolerance.lanes,
        library_versions=library_versions(libraries),
        defaults=complete_defaults(kind, defaults or {}),
        description=description,
        compute_budget=compute_budget,
        input_tolerance=input_tolerance,
    )
    manifest.save(folder)
    return manifest
