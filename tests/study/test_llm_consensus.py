"""LLM consensus on the real tiny-llama built-in: two honest variants in their own processes."""

from __future__ import annotations

from pathlib import Path

from inference.study.llm import DECODINGS, LLM_VARIANTS, PROMPTS, run_llm_study


def test_tiny_llama_reaches_consensus_across_batch_composition(tmp_path: Path) -> None:
    variants = [v for v in LLM_VARIANTS if v.name in ("reference", "batch-4")]
    result = run_llm_study(
        ["tiny-llama"],
        prompts=PROMPTS[:4],
        max_new_tokens=4,
        variants=variants,
        show_progress=False,
        cache_dir=tmp_path,
    )
    assert [row["decoding"] for row in result["rows"]] == list(DECODINGS)
    for row in result["rows"]:
        assert row["consensus"] == 1.0
        assert row["min_margin"] > 0.0  # greedy picked a strict argmax every time
    digests = result["raw"]["tiny-llama"]["reference"]["digests"]["greedy"]
    assert len(digests) == 4 and all(len(bytes.fromhex(d)) == 32 for d in digests)
    # A second run is answered from the cache without starting a worker.
    again = run_llm_study(
        ["tiny-llama"],
        prompts=PROMPTS[:4],
        max_new_tokens=4,
        variants=variants,
        show_progress=False,
        cache_dir=tmp_path,
    )
    assert again["rows"] == result["rows"]
    assert len(list((tmp_path / "tiny-llama").glob("*.json"))) == 2
