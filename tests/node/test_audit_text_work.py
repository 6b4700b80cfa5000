"""The audited mode's text compute on a node (no chain), on tiny-llama: the executor's tokens are
the text backend's and its result digest the replicated mode's; an honest auditor agrees within
the task's tolerance; a lazy executor (half the layers), tampered tokens and a result that is
not the committed tokens are caught."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from inference.audit.calibrated import audit_tolerance
from inference.audit.merkle import Commitment
from inference.audit.text import token_payload
from inference.digests import Tolerance, digest_tokens, digests_agree
from inference.models import load_model
from inference.runners import generate
from inference.specs import TextInput, canonical_json
from oracle.chain.audited import EVIDENCE_WITHHELD_DIGEST, challenge
from oracle.dev.dishonest import CONDUCTS
from oracle.node.audit_text import TextAuditor, greedy_shape
from oracle.node.audit_work import Claim, EvidenceStore, Execution
from oracle.node.conduct import HONEST

SPEC = TextInput(prompt="The verifier said", max_new_tokens=12)
SECRET = b"\x02" * 32


@pytest.fixture(scope="module")
def auditor() -> TextAuditor:
    return TextAuditor(load_model("tiny-llama"), threads=1)


def audit_tolerance_of(model: str) -> int:
    tolerance = audit_tolerance(model)
    assert tolerance is not None
    return tolerance.to_uint32()


def claim_of(auditor: TextAuditor, store: EvidenceStore, task_id: int, seed: bytes) -> Claim:
    kept = store.commitment(task_id)
    return Claim(
        canonical_json(SPEC),
        audit_tolerance_of("tiny-llama"),
        kept.evidence.root,
        store.result_digest(task_id),
        kept.sketch_tree.size,
        challenge(seed, kept.sketch_tree.size),
    )


def test_the_executor_generates_the_backends_tokens_and_the_replicated_digest(
    auditor: TextAuditor, tmp_path: Path
) -> None:
    store = EvidenceStore(tmp_path)
    execution = auditor.execute(1, canonical_json(SPEC), SECRET, HONEST, store)
    replicated = generate(auditor.model, SPEC, threads=1)
    assert execution.result_digest == bytes(replicated.digest)
    tokens = [int.from_bytes(p, "big") for p in store.evidence(1)]
    assert tokens == list(replicated.token_ids or [])
    assert execution.commitment.sketch_tree.size == len(tokens)  # leafCount: the tokens
    assert store.artifact(1) == (bytes(replicated.artifact), str(replicated.media_type))


def test_an_honest_auditor_agrees_within_the_tasks_tolerance(
    auditor: TextAuditor, tmp_path: Path
) -> None:
    store = EvidenceStore(tmp_path)
    auditor.execute(2, canonical_json(SPEC), SECRET, HONEST, store)
    kept = store.commitment(2)
    body = auditor.serve(store, 2, 0)
    assert [item["index"] for item in body["tokens"]] == list(range(kept.sketch_tree.size))
    for seed in (b"\x01" * 32, b"\x07" * 32):
        claim = claim_of(auditor, store, 2, seed)
        executor = kept.sketches[claim.index]
        audited = auditor.audit(claim, body)
        assert audited is not None and audited != EVIDENCE_WITHHELD_DIGEST
        assert digests_agree(executor, audited, Tolerance.from_uint32(claim.tolerance))
    # Tokens that are not the committed ones, or missing, are no evidence (asked again).
    tampered = {"tokens": [dict(item) for item in body["tokens"]]}
    tampered["tokens"][1]["token"] = (int(tampered["tokens"][1]["token"]) + 1) % 256
    assert auditor.audit(claim, tampered) is None
    assert auditor.audit(claim, {"tokens": body["tokens"][:-1]}) is None
    # A result digest that is not the committed tokens': valid evidence against the result.
    other = bytes(32)
    assert auditor.audit(replace(claim, result_digest=other), body) == EVIDENCE_WITHHELD_DIGEST


def test_a_lazy_text_executor_fails_the_margin_check(auditor: TextAuditor, tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    lazy = auditor.execute(3, canonical_json(SPEC), SECRET, CONDUCTS["lazy-text-executor"], store)
    honest = generate(auditor.model, SPEC, threads=1)
    assert lazy.result_digest != bytes(honest.digest)
    assert auditor.model.text_backend._model.config.num_hidden_layers == 2  # type: ignore[attr-defined]
    claim = claim_of(auditor, store, 3, b"\x01" * 32)
    body = auditor.serve(store, 3, claim.index)
    assert auditor.audit(claim, body) == EVIDENCE_WITHHELD_DIGEST


def test_a_generation_stops_only_at_its_end() -> None:
    assert greedy_shape([5, 6, 7], 3, eos=9)
    assert greedy_shape([5, 9], 3, eos=9)
    assert not greedy_shape([5, 6], 3, eos=9)  # cut short without an end-of-sequence token
    assert not greedy_shape([5, 9, 6], 3, eos=9)  # went on past its end
    assert not greedy_shape([5, 6, 7, 8], 3, eos=9)
    assert not greedy_shape([], 3, eos=9)


def test_a_token_outside_the_vocabulary_is_no_generation(
    auditor: TextAuditor, tmp_path: Path
) -> None:
    """Committed, proven and digested like any other, yet no token of the model: the auditor
    answers with the reserved digest instead of failing in its prefill."""
    store = EvidenceStore(tmp_path)
    honest = auditor.execute(4, canonical_json(SPEC), SECRET, HONEST, store)
    tokens = [int.from_bytes(p, "big") for p in honest.evidence]
    tokens[0] = 10_000  # tiny-llama has 258 token ids
    forged = Commitment.build(
        [token_payload(t) for t in tokens], honest.commitment.sketches, SECRET
    )
    digest = digest_tokens(tokens)
    payloads = tuple(token_payload(t) for t in tokens)
    store.save(5, Execution(digest, forged, b"", "text/plain", payloads))
    claim = replace(claim_of(auditor, store, 5, b"\x01" * 32), result_digest=digest)
    assert greedy_shape(tokens, SPEC.max_new_tokens, eos=257)  # only the vocabulary is wrong
    assert auditor.audit(claim, auditor.serve(store, 5, claim.index)) == EVIDENCE_WITHHELD_DIGEST
