"""`genoracle task train`: bad input is one clear line, never a traceback; data folders load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from oracle.cli import main
from oracle.sdk.training import load_training_data


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["task", "train", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_missing_data_is_one_line(tmp_path: Path) -> None:
    code, output = run("--data", str(tmp_path / "nowhere"), "--rpc-url", "http://127.0.0.1:9")
    assert code != 0 and output.strip().count("\n") == 0 and "no such file or folder" in output


def test_a_file_that_is_not_training_data_is_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a data set")
    code, output = run("--data", str(junk), "--rpc-url", "http://127.0.0.1:9")
    assert code != 0 and "GODATA1" in output and "Traceback" not in output


def test_an_empty_folder_is_one_line(tmp_path: Path) -> None:
    code, output = run("--data", str(tmp_path), "--rpc-url", "http://127.0.0.1:9")
    assert code != 0 and "digit folders" in output and "Traceback" not in output


def test_bad_options_are_refused_before_anything_is_sent() -> None:
    code, output = run("--data", "demo", "--rounds", "0")
    assert code == 2 and "--rounds" in output


def test_a_folder_of_digit_images_loads_resized_and_labelled(tmp_path: Path) -> None:
    for label in (3, 7):
        (tmp_path / str(label)).mkdir()
        pixels = np.full((32, 32, 3), 30 * label, dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / str(label) / "a.png")
    data = load_training_data(tmp_path)
    assert data.images.shape == (2, 16, 16) and list(data.labels) == [3, 7]
    assert len(data.sha256()) == 64
