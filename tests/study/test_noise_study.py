"""The noise study's quick path end to end: Digits-Gen under injected honest noise and two
impostors, per-sample digests stored and analysed from the file alone, the choice of a design,
the tolerance record, the noise report and the accuracy benchmark's figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.accuracy import figures
from inference.digests import digest_image
from inference.study.accuracy import (
    analyse_digests,
    best_design,
    candidate_designs,
    digest_setting,
    load_digests,
)
from inference.study.calibration import record_noise_tolerances
from inference.study.noise import CONDITIONS, load_condition, noise_name, run_noise_study
from inference.study.noise_report import write_noise_report

CLASSES = [0, 3, 7]
SEEDS = [1, 2, 3, 4]
NAMES = [
    "reference",
    *(noise_name(eps, r) for eps in (1e-4, 1e-3) for r in range(4)),
    "steps-80pc",
    "int8",
]
DESIGNS = [d for d in candidate_designs() if d.name in ("fine64", "sample-k2", "proj-w64")]


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("noise")
    done: list[str] = []
    folder = run_noise_study(
        root,
        "digits",
        CLASSES,
        SEEDS,
        conditions=[CONDITIONS[n] for n in NAMES],
        progress=lambda name, count, seconds: done.append(name),
    )
    assert done == NAMES
    return folder


def test_injected_noise_is_small_per_replica_and_reproducible(samples: Path) -> None:
    reference = load_condition(samples, "reference").images.astype(int)
    small = load_condition(samples, noise_name(1e-4, 0)).images.astype(int)
    larger = load_condition(samples, noise_name(1e-3, 0)).images.astype(int)
    other = load_condition(samples, noise_name(1e-3, 1)).images.astype(int)
    # More noise changes more pixels; replicas draw different noise; no image changes wholesale.
    assert (small != reference).mean() < (larger != reference).mean() < 0.5
    assert not np.array_equal(larger, other)
    again = run_noise_study(samples.parents[1], "digits", CLASSES, SEEDS, conditions=[])
    assert again == samples
    from inference.study.noise import DigitsNoiseDriver

    driver = DigitsNoiseDriver()
    redo = driver.generate(CONDITIONS[noise_name(1e-3, 0)], [0, 3], [1, 1])
    stored = load_condition(samples, noise_name(1e-3, 0))
    rows = [int(np.nonzero((stored.classes == c) & (stored.seeds == 1))[0][0]) for c in (0, 3)]
    assert np.array_equal(redo, stored.images[rows])  # batch-independent, bit for bit


def test_digests_are_stored_and_every_figure_comes_from_them(samples: Path, tmp_path: Path) -> None:
    path = digest_setting(samples, tmp_path / "noise" / "digits-digests.npz", DESIGNS)
    assert path.stat().st_size < 40 * len(NAMES) * len(DESIGNS) * 12 + 20_000  # compact
    stored = load_digests(path)
    assert sorted(stored.designs) == sorted(d.name for d in DESIGNS)
    # The registered scheme is the study's design, bit for bit.
    from inference.digests import lane_values
    from inference.digits.sampling import to_image

    reference = load_condition(samples, "reference")
    first = (stored.classes == reference.classes[0]) & (stored.seeds == reference.seeds[0])
    row = int(np.nonzero(first)[0][0])
    scheme = lane_values(digest_image(to_image(reference.images[0]), "phash64+sample192"))
    assert tuple(int(x) for x in stored.packed["sample-k2"]["reference"][row]) == scheme

    result = analyse_digests(path, DESIGNS)
    graded = result["designs"]["sample-k2"]["noise"]
    assert set(graded) == {"0.0001", "0.001"}  # only the levels that were generated
    at_low = graded["0.0001"]
    # Chosen on seeds 1 and 3, judged on 2 and 4: 6 pairs and 4 triples per held-out cell.
    assert at_low["honest_pairs"] == 6 * 6 and at_low["honest_triples"] == 4 * 6
    assert at_low["honest_majority3_accept"] == 1.0
    assert at_low["detected"]["steps-80pc"] == 1.0
    assert at_low["detected"]["other-seed"] == 1.0
    # Noise ten times larger needs a looser floor on the graded lanes.
    assert graded["0.001"]["tolerance"][1] > at_low["tolerance"][1]
    assert [p["threshold"] for p in at_low["roc"]][:3] == [0, 2, 4]

    chosen = best_design([result])
    assert chosen in {d.name for d in DESIGNS}
    report = write_noise_report({"digits": result}, chosen, tmp_path, ["A note."])
    text = report.read_text()
    assert "## Honest hardware noise" in text and "A note." in text
    assert (tmp_path / "digits-noise-roc.png").stat().st_size > 1000

    table = tmp_path / "tolerances.json"
    table.write_text(json.dumps({"tiny-sd": {"scheme": "phash64", "default_tolerance": [8]}}))
    written = record_noise_tolerances(
        {"digits": result}, "sample-k2", source="test", noise=1e-4, path=table
    )
    saved = json.loads(table.read_text())
    assert saved["tiny-sd"]["default_tolerance"] == [8]
    assert saved["digits"]["scheme"] == "phash64+sample192"
    assert saved["digits"]["default_tolerance"] == written["digits"]["default_tolerance"]
    assert saved["digits"]["default_tolerance"] == at_low["tolerance"]

    bench = figures({"digits": result}, "sample-k2")
    assert bench["digits"]["noise"]["0.0001"]["honest_pair_accept"] == at_low["honest_pair_accept"]
    assert "boundary_noise" in bench["digits"]


def test_settings_name_their_model_and_input() -> None:
    from inference.study.calibration import setting_model
    from inference.study.noise import setting_name

    assert setting_name("digits") == "digits" and setting_name("digits", steps=50) == "digits"
    assert setting_name("digits", steps=150) == "digits-150steps"
    assert setting_name("tiny-sd") == "tiny-sd-64px-10steps"
    assert setting_name("tiny-sd", 256, 40) == "tiny-sd-256px-40steps"
    assert setting_name("tiny-sd", scheduler="default", guidance=7.5) == "tiny-sd-64px-10steps"
    assert setting_name("tiny-sd", scheduler="dpm++") == "tiny-sd-64px-10steps-dpm++"
    assert setting_name("tiny-sd", guidance=0.0) == "tiny-sd-64px-10steps-guidance0"
    assert (
        setting_name("tiny-sd", 64, 10, scheduler="euler_a", guidance=50.0)
        == "tiny-sd-64px-10steps-euler_a-guidance50"
    )
    assert [setting_model(s) for s in ("digits-150steps", "tiny-sd-256px-40steps", "digits")] == [
        "digits",
        "tiny-sd",
        "digits",
    ]
    assert setting_model("tiny-sd-64px-10steps-guidance0") == "tiny-sd"


def test_digits_noise_study_takes_only_its_own_schedulers_and_no_guidance(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from inference.study.cli import study
    from inference.study.noise import open_noise_driver, setting_name

    with pytest.raises(ValueError, match="Digits-Gen"):
        open_noise_driver("digits", scheduler="pndm")
    with pytest.raises(ValueError, match="Digits-Gen has no guidance"):
        open_noise_driver("digits", guidance=0.0)
    assert setting_name("digits", scheduler="euler") == "digits-euler"
    assert setting_name("digits", scheduler="ddim") == "digits"
    for option in (["--scheduler", "pndm"], ["--guidance", "0"]):
        args = ["noise", "--model", "digits", "--store", str(tmp_path), *option]
        result = CliRunner().invoke(study, args)
        assert result.exit_code == 2 and "Digits-Gen" in result.output
    result = CliRunner().invoke(study, ["noise", "--model", "tiny-sd", "--guidance", "51"])
    assert result.exit_code == 2


def test_notes_file_paragraphs_are_split_on_blank_lines(tmp_path: Path) -> None:
    from inference.study.cli import read_notes

    notes = tmp_path / "notes.md"
    notes.write_text("Run: digits at\n150 steps.\n\n\nNo GPU was lent.\n\n")
    assert read_notes(notes) == ["Run: digits at 150 steps.", "No GPU was lent."]
