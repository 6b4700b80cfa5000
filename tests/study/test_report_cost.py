"""The report's cost section: sums of the recorded seconds, and an honest verdict on the budget."""

from __future__ import annotations

from inference.study.report import cost_section


def test_cost_sums_every_recorded_piece_and_flags_the_budget() -> None:
    results = [{"model": "digits", "generation_seconds": {"reference": 3000.0, "bf16": 1000.0}}]
    llm = {"parts": [{"raw": {"tiny-llama": {"reference": {"seconds": 60.0}, "margins": [1.0]}}}]}
    training = {"steps": 10, "seconds": {"a": 20.0, "b": 20.0}}
    text = "\n".join(cost_section(results, llm, training, None))
    assert "| digits: generation, 2 variants | 4,000 |" in text
    assert "| tiny-llama: LLM consensus, 1 variant | 60 |" in text
    assert "**4,100** (68 min)" in text
    # Two generation processes at once: 4100 - 2000 s = 35 min, within the hour.
    assert "about 35 min in all" in text and "over the 60-minute budget" not in text
    slow = [{"model": "digits", "generation_seconds": {"reference": 9000.0}}]
    assert "over the 60-minute budget" in "\n".join(cost_section(slow, None, None, None))


def test_cost_reports_the_run_it_was_written_in() -> None:
    run = {"started": "2026-11-24 23:00 UTC", "elapsed": 1234.0, "load_before": "1.0 1.0 1.0"}
    text = "\n".join(cost_section([], None, None, {**run, "load_after": "2.0 2.0 2.0"}))
    assert "started at 2026-11-24 23:00 UTC" in text and "1,234 s later" in text


def test_identities_count_chunks_per_weights_file_and_variant() -> None:
    import numpy as np

    from inference.study.analysis import _identities
    from inference.study.store import VariantSamples

    def stored(*hashes: str) -> VariantSamples:
        empty = np.zeros(0, dtype=np.int64)
        records: list[dict[str, object]] = [{"fingerprint": {"weights_sha256": h}} for h in hashes]
        return VariantSamples(empty.astype(np.int16), empty, np.zeros((0, 2, 2), np.uint8), records)

    seen = _identities(
        {"reference": stored("a", "a"), "threads-2": stored("a", "b")}, "weights_sha256"
    )
    assert {k: dict(v) for k, v in seen.items()} == {
        "a": {"reference": 2, "threads-2": 1},
        "b": {"threads-2": 1},
    }
    assert _identities({"reference": stored("a")}, "model_id") == {}
