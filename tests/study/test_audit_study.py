"""The audit study's quick path end to end on the real tiny models: trajectories under modelled
noise and every impostor, recomputed step by step; calibration on odd seeds, judgement on even
ones; the cost measurement; the benchmark's figures and tables."""

from __future__ import annotations

import json

import pytest

from inference.study.audit import (
    FAKED_FRACTIONS,
    WHOLE_IMAGE_IMPOSTORS,
    StudyPlan,
    faked_name,
    run_audit_study,
)
from inference.study.audit_cost import diffusion_costs, text_costs
from inference.study.audit_report import figures, tables

TINY = StudyPlan((("digits", 16, 8, 2),), "tiny-llama", 8, 4, 1, 1)


@pytest.fixture(scope="module")
def results() -> dict[str, object]:
    return run_audit_study(TINY, costs=False)


def test_quick_study_calibrates_and_judges(results: dict[str, object]) -> None:
    entry = results["diffusion"]["digits-8steps"]  # type: ignore[index]
    assert entry["seeds_calibration"] == [1] and entry["seeds_judged"] == [2]
    assert len(entry["tolerances"]) == 8
    assert set(entry["task_detection"]) >= set(WHOLE_IMAGE_IMPOSTORS)
    for f in FAKED_FRACTIONS:
        row = entry["challenge_detection"][faked_name(f)]["4"]
        assert 0 <= row["measured"] <= 1 and row["analytic"] == pytest.approx(1 - (1 - f) ** 4)
    # Honest re-runs at the calibration noise pass on the judged seeds; half the steps skipped
    # is caught more often with more challenged steps.
    assert entry["honest_task_accept"]["noise-1e-05"]["1"] >= 0.9
    faked = entry["challenge_detection"]["faked-50pc"]
    assert faked["8"]["measured"] >= faked["1"]["measured"]
    text = results["text"]  # type: ignore[index]
    assert text["margin"] > 0 and text["margin_accept"]["sampling"] < 0.5
    # Under the chain's comparison: one lane tolerance per model, honest challenges accepted.
    for chain in (entry["chain"], text["chain"]):
        chosen = chain["candidates"][chain["design"]]
        assert chain["tolerance"] == min(64, chosen["honest_max_lane"] + 2)
        calibrated = f"noise-{chain['calibration_noise']:.0e}"
        assert chosen["honest_resolved"][calibrated] >= chosen["honest_accept"][calibrated]


def test_figures_and_tables(results: dict[str, object]) -> None:
    record = {"bench": "audit", **figures(results)}  # type: ignore[arg-type]
    assert record["gas_audited_task"] is None and "bench.audit_gas" in record["gas_note"]
    assert set(record["honest_accept"]) == {"digits-8steps", "tiny-llama"}
    assert set(record["lane_tolerance"]) == {"digits-8steps", "tiny-llama"}
    assert record["challenge_size"] == 1
    json.dumps(record)
    text = "\n".join(tables(results))  # type: ignore[arg-type]
    assert "(chosen)" in text and "faked-50pc" in text and "under the chain's comparison" in text


def test_cost_measurement_reports_ratios() -> None:
    images = diffusion_costs(64, 4, (1,), repeats=1)["by_challenge"]["1"]
    assert 0 < images["auditor_cost_ratio"] < 1
    assert images["verified_cost_ratio"] == pytest.approx(
        images["executor_cost_ratio"] + 2 * images["auditor_cost_ratio"], abs=1e-3
    )
    texts = text_costs("tiny-llama", 8, challenge=2, repeats=1)
    assert texts["tokens"] and 0 < texts["auditor_cost_ratio"] < 1


def test_the_input_corners_measure_honest_lanes_against_the_registry_tolerance() -> None:
    from inference.audit.calibrated import AUDIT_LANE_TOLERANCE
    from inference.study.audit_inputs import run_audit_inputs

    results = run_audit_inputs(guidances=(7.5, 50.0), shapes=((64, 4),), seeds=1)
    rows = {(r["size"], r["steps"], r["guidance"]): r for r in results["corners"]}
    assert set(rows) == {(64, 20, 7.5), (64, 20, 50.0), (64, 4, 7.5)}
    assert results["tolerance"] == AUDIT_LANE_TOLERANCE["tiny-sd"]
    for row in rows.values():
        assert row["largest_lane"] == max(row["by_seed"])
        assert row["within_tolerance"] == (row["largest_lane"] <= results["tolerance"])
    # The default input sits within the registry's T; guidance 50 (refused by audited tasks)
    # moves the honest sketches further than guidance 7.5 does.
    assert rows[(64, 20, 7.5)]["within_tolerance"]
    assert rows[(64, 20, 50.0)]["largest_lane"] > rows[(64, 20, 7.5)]["largest_lane"]
