"""The inference commands of the `genoracle` CLI."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from click.testing import CliRunner
from inference_images import make_image

from inference.digests import INVALID_INPUT_DIGEST, digest_file, digest_hex
from inference.manifest import load_manifest
from inference.models import resolve_model_folder
from oracle.cli import main


def test_digest_prints_one_line_per_file(tmp_path: Path) -> None:
    paths = []
    for index in range(3):
        path = tmp_path / f"image {index}.png"
        make_image(index).save(path)
        paths.append(path)
    result = CliRunner().invoke(main, ["digest", *map(str, paths)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines == [f"{digest_hex(digest_file(path))}  {path}" for path in paths]
    assert all(re.fullmatch(r"0x[0-9a-f]{64}  .+", line) for line in lines)


def test_digest_reports_bad_files_and_schemes(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    make_image(0).save(good)
    bad.write_bytes(b"not an image")
    result = CliRunner().invoke(main, ["digest", str(good), str(bad)])
    assert result.exit_code == 1
    assert f"{digest_hex(digest_file(good))}  {good}" in result.stdout
    assert "not a readable image" in result.stderr
    result = CliRunner().invoke(main, ["digest", "--scheme", "md5", str(good)])
    assert result.exit_code == 2 and "unknown image digest scheme 'md5'" in result.output


def test_digest_with_a_model_uses_the_model_scheme(tmp_path: Path) -> None:
    """`--model` did not exist: `genoracle digest` always used phash64, so its output could not
    be compared with a task of a model registered with phash64+fine64."""
    path = tmp_path / "image.png"
    make_image(1).save(path)
    scheme = load_manifest(resolve_model_folder("tiny-sd")).digest_scheme
    assert scheme != "phash64"
    result = CliRunner().invoke(main, ["digest", "--model", "tiny-sd", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{digest_hex(digest_file(path, scheme))}  {path}\n"
    assert result.stdout != CliRunner().invoke(main, ["digest", str(path)]).stdout
    text = CliRunner().invoke(main, ["digest", "--model", "tiny-llama", str(path)])
    assert text.exit_code == 2 and "tiny-llama is a text model" in text.output
    both = CliRunner().invoke(main, ["digest", "--model", "tiny-sd", "--scheme", "x", str(path)])
    assert both.exit_code == 2 and "give --model or --scheme, not both" in both.output


def test_near_constant_images_are_warned_about(tmp_path: Path) -> None:
    path = tmp_path / "flat.png"
    make_image(4).save(path)
    result = CliRunner().invoke(main, ["digest", str(path)])
    assert result.exit_code == 0 and "near-constant" in result.stderr


def test_models_list_and_build() -> None:
    built = CliRunner().invoke(main, ["models", "build", "tiny-llama"])
    assert built.exit_code == 0, built.output
    name, model_id, _folder = built.stdout.split()
    assert name == "tiny-llama" and re.fullmatch(r"0x[0-9a-f]{64}", model_id)
    listed = CliRunner().invoke(main, ["models", "list", "--json"])
    rows = {row["name"]: row for row in map(json.loads, listed.stdout.splitlines())}
    assert rows["tiny-llama"]["model_id"] == model_id
    assert {"tiny-sd", "smollm2-135m"} <= set(rows)
    missing = CliRunner().invoke(main, ["models", "build", "nope"])
    assert missing.exit_code == 1 and "no built-in model 'nope'" in missing.output


def test_generate_writes_the_artifact_and_prints_digest_and_fingerprint(tmp_path: Path) -> None:
    out = tmp_path / "fox.png"
    spec = '{"prompt": "a red fox", "seed": 1, "steps": 4, "width": 64, "height": 64}'
    result = CliRunner().invoke(main, ["generate", "tiny-sd", "--input", spec, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "digest       0x8d88be33c1963763" in result.stdout
    fingerprint = json.loads(result.stdout.split("fingerprint  ")[1].splitlines()[0])
    assert fingerprint["batch_size"] == 1 and "cpu_capability" in fingerprint
    assert digest_file(out).hex().startswith("8d88be33c1963763")


def test_generate_with_invalid_input_prints_the_reserved_digest(tmp_path: Path) -> None:
    spec_file = tmp_path / "input.json"
    spec_file.write_text('{"prompt": "x", "steps": 500}')
    result = CliRunner().invoke(
        main, ["generate", "tiny-llama", "--input", f"@{spec_file}", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert digest_hex(INVALID_INPUT_DIGEST) in result.stdout
    assert "steps: Extra inputs are not permitted" in result.stdout


def test_generate_refuses_a_bad_thread_count_in_one_line(tmp_path: Path) -> None:
    spec = '{"prompt": "a digit 3", "width": 64, "height": 64, "steps": 10}'
    args = ["generate", "digits", "--input", spec, "--out", str(tmp_path / "d.png")]
    zero = CliRunner().invoke(main, [*args, "--threads", "0"])
    assert zero.exit_code == 1 and "Error: thread count 0 must be at least 1" in zero.output
    from_env = CliRunner().invoke(main, args, env={"GENORACLE_THREADS": "two"})
    assert from_env.exit_code == 1
    assert "Error: GENORACLE_THREADS='two' is not an integer" in from_env.output


def test_models_manifest_makes_a_plain_folder_loadable(tmp_path: Path) -> None:
    from inference.models import build_builtin, load_model

    for name, kind in (("tiny-llama", "text"), ("tiny-sd", "image")):
        folder = tmp_path / name
        shutil.copytree(build_builtin(name), folder)
        (folder / "manifest.json").unlink()
        result = CliRunner().invoke(main, ["models", "manifest", str(folder), "--name", "mine"])
        assert result.exit_code == 0, result.output
        model = load_model(str(folder))
        assert (model.name, model.kind) == ("mine", kind)
        assert result.stdout.split()[1] == "0x" + model.model_id.hex()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["models", "manifest", str(empty)])
    assert result.exit_code == 1 and "neither a diffusers pipeline" in result.output
