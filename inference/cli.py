"""`genoracle digest`, `genoracle models ...` and `genoracle generate`.

Heavy libraries (torch, diffusers) are imported inside the commands so that the rest of the CLI
starts fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click


def _quiet_libraries() -> None:
    """Keep loading bars and optional-dependency notices of diffusers/transformers off stdout."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import diffusers.utils.logging
    import transformers.utils.logging

    libraries: tuple[Any, ...] = (diffusers.utils.logging, transformers.utils.logging)
    for logging_module in libraries:
        logging_module.disable_progress_bar()


@click.command("digest")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--scheme",
    default=None,
    help="Digest scheme: phash64 (the default), phash64+dhash64, phash64+fine64, "
    "phash64+sample192 or phash256.",
)
@click.option(
    "--model",
    default=None,
    help="Digest as this image model does (its manifest's scheme): a built-in name or folder.",
)
def digest(files: tuple[Path, ...], scheme: str | None, model: str | None) -> None:
    """Print the digest of each image FILE as '0x<64 hex digits>  FILE'."""
    from PIL import Image

    from inference.digests import (
        DEFAULT_IMAGE_SCHEME,
        digest_hex,
        digest_image,
        get_image_scheme,
        load_image,
    )
    from inference.errors import InferenceError

    if model is not None:
        if scheme is not None:
            raise click.UsageError("give --model or --scheme, not both: a model has its scheme")
        scheme = _model_scheme(model)
    scheme = scheme or DEFAULT_IMAGE_SCHEME
    try:
        get_image_scheme(scheme)
    except InferenceError as exc:
        raise click.BadParameter(str(exc), param_hint="--scheme") from exc
    failed = False
    for path in files:
        try:
            image: Image.Image = load_image(path.read_bytes())
            value = digest_image(image, scheme)
        except (OSError, InferenceError) as exc:
            click.echo(f"error: {path}: {exc}", err=True)
            failed = True
            continue
        click.echo(f"{digest_hex(value)}  {path}")
        from inference.digests import near_constant

        if near_constant(image):
            click.echo(f"warning: {path} is near-constant; its pHash is not meaningful", err=True)
    if failed:
        sys.exit(1)


def _model_scheme(model: str) -> str:
    """The digest scheme of an image model's manifest (built on first use)."""
    from inference.errors import InferenceError
    from inference.manifest import load_manifest
    from inference.models import resolve_model_folder

    try:
        manifest = load_manifest(resolve_model_folder(model))
    except InferenceError as exc:
        raise click.BadParameter(str(exc), param_hint="--model") from exc
    if manifest.kind != "image":
        raise click.BadParameter(
            f"{model} is a {manifest.kind} model: its digest is over token ids, not an image; "
            "check a text artifact with `genoracle verify --task ID FILE`",
            param_hint="--model",
        )
    return manifest.digest_scheme


@click.group("models")
def models() -> None:
    """List, build and describe the models a verifier can run."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model.")
def list_models(as_json: bool) -> None:
    """Show the built-in models: built or not in the model cache, and the modelId a node serves
    each under (a cached manifest that predates the calibrated tolerances or compute budget is
    'stale': its next load rewrites it, and the id shown is the one it will have)."""
    from inference.errors import InferenceError
    from inference.manifest import MANIFEST_FILE, load_manifest
    from inference.models import builtin_models, current_manifest, models_dir

    cache = models_dir()
    rows = []
    for name, model in sorted(builtin_models().items()):
        folder = cache / name
        row: dict[str, object] = {
            "name": name,
            "kind": model.kind,
            "built": (folder / MANIFEST_FILE).is_file(),
            "description": model.description,
            "folder": str(folder),
        }
        if row["built"]:
            try:
                cached = load_manifest(folder)
            except InferenceError as exc:
                row.update(built=False, error=str(exc))
            else:
                manifest, changed = current_manifest(model, cached)
                row.update(
                    model_id=manifest.model_id_hex,
                    scheme=manifest.digest_scheme,
                    tolerance=list(manifest.default_tolerance),
                    stale=bool(changed),
                )
                if changed:
                    row["cached_model_id"] = cached.model_id_hex
        rows.append(row)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, sort_keys=True))
        return
    click.echo(f"model cache: {cache}")
    click.echo(f"{'name':<14} {'kind':<6} {'built':<6} {'scheme':<16} {'modelId':<68} description")
    for row in rows:
        built = "broken" if "error" in row else "no"
        if row["built"]:
            built = "stale" if row["stale"] else "yes"
        click.echo(
            f"{row['name']!s:<14} {row['kind']!s:<6} {built:<6} "
            f"{row.get('scheme', '-')!s:<16} {row.get('model_id', '-')!s:<68} {row['description']}"
        )
    for row in rows:
        if "error" in row:
            click.echo(
                f"broken: {row['name']}: {row['error']}; rebuild: genoracle models build "
                f"{row['name']} --force"
            )
    if any(row.get("stale") for row in rows):
        click.echo(
            "stale: the cached manifest predates the calibrated tolerances or compute budget; "
            "the next load (genoracle models build NAME) rewrites it to the modelId shown"
        )


@models.command("build")
@click.argument("name")
@click.option("--force", is_flag=True, help="Rebuild even if the model is cached.")
def build_model(name: str, force: bool) -> None:
    """Build built-in model NAME into the model cache and print its modelId."""
    _quiet_libraries()
    from inference.errors import InferenceError
    from inference.manifest import load_manifest
    from inference.models import build_builtin

    try:
        folder = build_builtin(name, force=force)
        manifest = load_manifest(folder)
        manifest.verify_files(folder)
    except InferenceError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{manifest.name}  {manifest.model_id_hex}  {folder}")


@models.command("manifest")
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--name", help="Model name (default: the folder name).")
@click.option(
    "--budget",
    "budget_json",
    help="The compute budget as JSON (a node serves no model without one), e.g. "
    '\'{"cost_model": "diffusion/1", "max_units": 2700000, "min_units_per_second": 9000, '
    '"attention_latent_pixels": 3500, "evaluation_overhead": 460, "decode_evaluations": 19}\' '
    "or @FILE; see inference/compute_budget.py and make bench-inference.",
)
def write_manifest(folder: Path, name: str | None, budget_json: str | None) -> None:
    """Hash a diffusers or transformers model FOLDER and write its manifest.json."""
    from pydantic import TypeAdapter, ValidationError

    from inference.compute_budget import ComputeBudget
    from inference.errors import InferenceError
    from inference.models import import_folder

    budget = None
    if budget_json is not None:
        try:
            text = _read_input(budget_json).decode("utf-8")
            budget = TypeAdapter(ComputeBudget).validate_json(text)
        except (OSError, UnicodeDecodeError, ValidationError) as exc:
            raise click.BadParameter(str(exc), param_hint="--budget") from exc
    try:
        manifest = import_folder(folder, name, budget)
    except (InferenceError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{manifest.name}  {manifest.model_id_hex}  {folder}")
    if manifest.compute_budget is None:
        click.echo(
            "warning: no --budget: a node will refuse to serve this model; the budget changes "
            "the modelId",
            err=True,
        )


def _read_input(value: str) -> bytes:
    if value.startswith("@"):
        return Path(value[1:]).read_bytes()
    return value.encode("utf-8")


@click.command("generate")
@click.argument("model")
@click.option(
    "--input", "input_json", required=True, help="Input JSON, or @FILE to read it from a file."
)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--task-id", default=0, show_default=True, help="Task id (seed 0 derives from it).")
@click.option("--entropy", default="", help="Task entropy as hex (seed 0 derives from it).")
@click.option("--threads", type=int, help="torch threads (default: GENORACLE_THREADS or 1).")
def generate(
    model: str,
    input_json: str,
    out: Path,
    task_id: int,
    entropy: str,
    threads: int | None,
) -> None:
    """Run MODEL (built-in name, folder or hub id) on an input; write the artifact to --out."""
    _quiet_libraries()
    from inference.digests import digest_hex
    from inference.errors import InferenceError
    from inference.input_tolerance import required_tolerance
    from inference.models import load_model
    from inference.runners import run_request
    from inference.specs import parse_input

    try:
        entropy_bytes = bytes.fromhex(entropy.removeprefix("0x"))
    except ValueError as exc:
        raise click.BadParameter(f"{entropy!r} is not hex", param_hint="--entropy") from exc
    try:
        raw = _read_input(input_json)
        loaded = load_model(model)
        result = run_request(loaded, raw, task_id=task_id, entropy=entropy_bytes, threads=threads)
    except (OSError, InferenceError) as exc:
        raise click.ClickException(str(exc)) from exc
    out.write_bytes(result.artifact)
    click.echo(f"model        {loaded.name} {loaded.manifest.model_id_hex}")
    click.echo(f"digest       {digest_hex(result.digest)}")
    if result.invalid_reason is not None:
        click.echo(f"invalid      {result.invalid_reason}")
    if result.seed is not None:
        click.echo(f"seed         {result.seed}")
    if result.invalid_reason is None and loaded.manifest.kind == "image":
        needed = required_tolerance(
            loaded.manifest, parse_input("image", raw, loaded.manifest.defaults)
        )
        click.echo(f"tolerance    {needed} (what a task with this input needs)")
    if result.flags:
        click.echo(f"flags        {', '.join(result.flags)}")
    click.echo(f"seconds      {result.seconds:.3f}")
    click.echo(f"fingerprint  {json.dumps(result.fingerprint, sort_keys=True)}")
    click.echo(f"artifact     {out} ({result.media_type}, {len(result.artifact)} bytes)")
    if result.invalid_reason is not None:
        sys.exit(2)
