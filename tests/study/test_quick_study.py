"""The quick study end to end: real Digits-Gen generation in worker processes, stored samples,
resumption, all-pairs analysis on the Hamming engine, the report and the tolerance record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from inference.digests import Tolerance
from inference.study.analysis import analyse_model
from inference.study.calibration import record_tolerances
from inference.study.drivers import MODEL_VARIANTS
from inference.study.report import best_scheme, write_report
from inference.study.store import SampleStore
from inference.study.sweep import run_study
from inference.study.variants import ALL_VARIANTS, resolve_variants

DIGITS_VARIANTS = {name: ALL_VARIANTS[name] for name in MODEL_VARIANTS["digits"]}

CLASSES = [0, 3, 7]
SEEDS = [1, 2, 3]


@pytest.fixture(scope="module")
def quick_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("study")
    runs = run_study(
        root,
        "digits",
        list(DIGITS_VARIANTS.values()),
        CLASSES,
        SEEDS,
        jobs=2,
        show_progress=False,
    )
    assert all(run.generated == len(CLASSES) * len(SEEDS) for run in runs)
    return root


def test_every_variant_is_stored_with_provenance(quick_store: Path) -> None:
    store = SampleStore(quick_store, "digits")
    for name, variant in DIGITS_VARIANTS.items():
        samples = store.load(name)
        assert sorted(zip(samples.classes.tolist(), samples.seeds.tolist(), strict=True)) == [
            (c, s) for c in CLASSES for s in SEEDS
        ]
        assert samples.images.shape == (9, 16, 16)
        fingerprint = samples.provenance[0]["fingerprint"]
        assert fingerprint["threads"] == variant.threads  # type: ignore[index]
        expected_isa = "AVX2" if variant.older_cpu else fingerprint["cpu_capability"]  # type: ignore[index]
        assert fingerprint["cpu_capability"] == expected_isa  # type: ignore[index]
        assert fingerprint["deterministic"] == variant.deterministic  # type: ignore[index]


def test_a_rerun_generates_nothing(quick_store: Path) -> None:
    runs = run_study(
        quick_store, "digits", resolve_variants("honest"), CLASSES, SEEDS, show_progress=False
    )
    assert [run.generated for run in runs] == [0] * len(runs)


def test_the_reference_draws_the_prompted_digit_shapes(quick_store: Path) -> None:
    # Different seeds of one class differ; the same cell under an honest variant barely does.
    store = SampleStore(quick_store, "digits")
    reference, batch_one = store.load("reference"), store.load("batch-1")
    assert not np.array_equal(reference.images[0], reference.images[1])
    difference = np.abs(reference.images.astype(int) - batch_one.images.astype(int))
    assert difference.max() <= 2


def test_analysis_report_and_tolerances(quick_store: Path, tmp_path: Path) -> None:
    result = analyse_model(quick_store, "digits", list(DIGITS_VARIANTS))
    pool = len(DIGITS_VARIANTS) * len(CLASSES) * len(SEEDS)
    schemes = result["schemes"]
    assert result["comparisons"] == len(schemes) * pool * (pool - 1) // 2
    fine = schemes["phash64+fine64"]
    assert fine["at_recommended"]["honest"] == 1.0
    assert fine["at_recommended"]["honest_majority3"] == 1.0
    # Fewer steps keep the pHash often but never the pixels: the fine lane catches them.
    assert fine["at_recommended"]["detect[steps-10]"] == 1.0
    assert fine["at_recommended"]["detect[steps-25]"] == 1.0
    assert best_scheme(result) in schemes
    # Seeds 1 and 3 choose the tolerances; seed 2 (3 cells) judges them.
    assert result["split"] == {"held_out": True, "calibration_cells": 6, "held_out_cells": 3}
    assert fine["at_calibration"]["honest"] == 1.0

    report = write_report([result], tmp_path / "report")
    text = report.read_text()
    assert "## digits" in text and "> 99.89 %" in text and "< 0.0267 %" in text
    assert "Held out:" in text and "(3 cells)" in text
    assert "Stored chunks by weights sha256 at generation" in text
    assert (tmp_path / "report" / "digits-roc.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "report" / "digits-results.json").read_text())
    assert saved["comparisons"] == result["comparisons"]

    table = tmp_path / "tolerances.json"
    table.write_text(json.dumps({"tiny-sd": {"scheme": "phash64", "default_tolerance": [8]}}))
    entry = record_tolerances(result, source="test", path=table)
    written = json.loads(table.read_text())
    assert written["tiny-sd"]["default_tolerance"] == [8]  # other models are kept
    assert written["digits"]["default_tolerance"] == entry["default_tolerance"]
    assert written["digits"]["evidence"]["measured_on"].startswith("held-out")
    Tolerance.of(*entry["default_tolerance"])  # a valid on-chain tolerance


def test_cli_rejects_an_unknown_variant(tmp_path: Path) -> None:
    from oracle.cli import main

    outcome = CliRunner().invoke(
        main, ["study", "run", "--variants", "fp8", "--store", str(tmp_path)]
    )
    assert outcome.exit_code != 0
    assert "unknown variant 'fp8'" in outcome.output
