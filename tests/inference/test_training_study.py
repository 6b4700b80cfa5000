"""The training study's quick path runs end to end and writes its results and report."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from bench.training import main as bench_main
from inference.study.cli import study


def test_quick_training_study_writes_its_outputs(tmp_path: Path, capsys: object) -> None:
    out, report = tmp_path / "training-results.json", tmp_path / "TRAINING.md"
    outcome = CliRunner().invoke(
        study,
        ["training", "--plan", "quick", "--out", str(out), "--report", str(report)],
    )
    assert outcome.exit_code == 0, outcome.output
    results = json.loads(out.read_text())
    plan = results["plan"]
    honest = [m for m in results["members"] if m["role"] == "honest"]
    impostors = [m for m in results["members"] if m["role"] == "impostor"]
    per_round_sync = len(honest) + len(impostors)
    assert len(results["records"]) == plan["rounds"] * (per_round_sync + len(honest))
    assert all(len(r["digest"]) == 66 and len(r["sha256"]) == 64 for r in results["records"])
    line = next(x for x in outcome.output.splitlines() if x.startswith('{"bench"'))
    figures = json.loads(line)
    assert figures["honest_round_accept"]["sync"] == 1.0
    assert figures["gas_per_round"] is None
    assert min(figures["detected"].values()) >= 0.9
    text = report.read_text()
    assert "## Impostors detected per round" in text and "no_sync" in text
    # The benchmark prints the same figures from the stored results without training.
    assert bench_main(["--stored", str(out), "--no-gas"]) == 0
