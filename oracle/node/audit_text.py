"""Audited text tasks on a node (the `Auditor` of audit_work.py for causal language models).

The executor decodes greedily keeping the final hidden state that predicted each token
(inference.audit.text), submits the replicated mode's digest of the tokens, and commits the
token ids (evidence leaves) and the salted sketches of the hidden states. It serves every token
with its proof: the auditor's prefill needs them all, the result digest already made them public,
and they reveal no hidden state. The auditor checks that the tokens are the result and stop only
where decoding stops, that each is within the model's logit margin of its own argmax in one
prefill, and then sketches its hidden state at the challenged position.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from inference.audit.merkle import verify_proof
from oracle.chain.audited import EVIDENCE_WITHHELD_DIGEST
from oracle.node.audit_work import Claim, EvidenceStore, Execution, proof_of

if TYPE_CHECKING:
    from inference.models import LoadedModel
    from inference.specs import TextInput
    from oracle.node.conduct import Conduct


def verify_tokens(root: bytes, leaf_count: int, body: dict[str, Any]) -> list[int] | None:
    """Every one of the `leaf_count` served tokens, each proven at its position under `root`;
    None if any is missing or unproven."""
    from inference.audit.text import token_payload

    items = {int(item["index"]): item for item in body.get("tokens", [])}
    tokens = []
    for index in range(leaf_count):
        item = items.get(index)
        if item is None:
            return None
        token = int(item["token"])
        if not 0 <= token < 1 << 32:
            return None
        if not verify_proof(root, leaf_count, index, token_payload(token), proof_of(item)):
            return None
        tokens.append(token)
    return tokens


def greedy_shape(tokens: Sequence[int], max_new_tokens: int, eos: int | None) -> bool:
    """Whether tokens can be a generation of at most `max_new_tokens` that stops only where
    decoding stops: at the end-of-sequence token (last only) or at the length limit."""
    if not 1 <= len(tokens) <= max_new_tokens:
        return False
    if eos is not None and eos in tokens[:-1]:
        return False
    return len(tokens) == max_new_tokens or (eos is not None and tokens[-1] == eos)


class TextAuditor:
    """Audited text jobs of one loaded causal LM (greedy decoding only)."""

    def __init__(
        self, model: LoadedModel, threads: int, commit_window_s: int | None = None
    ) -> None:
        self.model = model
        self.threads = threads
        self.commit_window_s = commit_window_s
        self.lock = threading.Lock()
        self.backend: Any = model.text_backend  # the transformers backend: model, tokenizer

    def spec(self, data: bytes) -> TextInput:
        """The task's input, or InvalidInputError for one the model refuses: the replicated
        mode's rules (`check_input`: context, compute budget) and the audited mode's own (greedy
        decoding, which the logit margin checks)."""
        from inference.errors import InvalidInputError
        from inference.runners import check_input
        from inference.specs import TextInput, parse_input

        spec = parse_input("text", data, self.model.manifest.defaults)
        assert isinstance(spec, TextInput)
        check_input(self.model, spec, self.commit_window_s)
        if spec.num_beams != 1:
            raise InvalidInputError("an audited text task decodes greedily (num_beams 1)")
        return spec

    def design_and_limits(self) -> tuple[Any, int, float]:
        from inference.audit.calibrated import TEXT_MARGIN, TEXT_SKETCH, TEXT_TOLERANCE
        from inference.audit.sketch import DESIGNS

        name = self.model.name
        return DESIGNS[TEXT_SKETCH], TEXT_TOLERANCE[name], TEXT_MARGIN[name]

    # -- the Auditor interface -------------------------------------------------------------

    def execute(
        self, task_id: int, data: bytes, secret: bytes, conduct: Conduct, store: EvidenceStore
    ) -> Execution:
        spec = self.spec(data)
        execution = self.generate(spec, secret, conduct)
        store.save(task_id, execution)
        return execution

    def serve(self, store: EvidenceStore, task_id: int, index: int) -> dict[str, Any]:
        commitment = store.commitment(task_id)
        return {
            "tokens": [
                {
                    "index": index,
                    "token": int.from_bytes(payload, "big"),
                    "proof": ["0x" + p.hex() for p in commitment.evidence.proof(index)],
                }
                for index, payload in enumerate(store.evidence(task_id))
            ]
        }

    def audit(self, claim: Claim, body: dict[str, Any]) -> bytes | None:
        from inference.digests import digest_tokens

        spec = self.spec(claim.input)
        if not 1 <= claim.leaf_count <= spec.max_new_tokens:
            return EVIDENCE_WITHHELD_DIGEST  # more tokens than asked for, or none
        tokens = verify_tokens(claim.evidence_root, claim.leaf_count, body)
        if tokens is None:
            return None
        if digest_tokens(tokens) != claim.result_digest:
            return EVIDENCE_WITHHELD_DIGEST  # the result is not the committed tokens'
        if not greedy_shape(tokens, spec.max_new_tokens, self.backend._eos):
            return EVIDENCE_WITHHELD_DIGEST  # stopped early, or went on past its end
        if max(tokens) >= int(self.backend._model.config.vocab_size):
            return EVIDENCE_WITHHELD_DIGEST  # no token of this model
        return self.recompute(spec, tokens, claim.index)

    # -- compute -----------------------------------------------------------------------------

    def generate(self, spec: TextInput, secret: bytes, conduct: Conduct) -> Execution:
        """Decode (through the conduct: greedy for an honest node) keeping the hidden states,
        and commit; the result digest is the replicated mode's digest of the tokens."""
        from inference.audit.text import commit_text, token_payload
        from inference.determinism import deterministic
        from inference.digests import digest_tokens
        from inference.runners import TEXT_MEDIA_TYPE

        design, _, _ = self.design_and_limits()
        prompt_ids = self.backend.prompt_ids(spec)
        with self.lock, deterministic(self.threads):
            run = conduct.text_run(
                self.backend._model, prompt_ids, spec.max_new_tokens, self.backend._eos
            )
            commitment = commit_text(run, design, secret)
        text = str(self.backend._tokenizer.decode(list(run.tokens), skip_special_tokens=True))
        return Execution(
            digest_tokens(run.tokens),
            commitment,
            text.encode("utf-8"),
            TEXT_MEDIA_TYPE,
            tuple(token_payload(t) for t in run.tokens),
        )

    def recompute(self, spec: TextInput, tokens: Sequence[int], index: int) -> bytes:
        """One prefill over prompt + tokens: EVIDENCE_WITHHELD_DIGEST when a token is outside
        the model's margin of the auditor's argmax (not the greedy generation), else the
        auditor's sketch of its hidden state at the challenged position."""
        from inference.audit.text import prefill, within_margin
        from inference.determinism import deterministic

        design, _, margin = self.design_and_limits()
        prompt_ids = self.backend.prompt_ids(spec)
        with self.lock, deterministic(self.threads):
            state = prefill(self.backend._model, prompt_ids, tokens)
        if not within_margin(state.logits, tokens, margin):
            return EVIDENCE_WITHHELD_DIGEST
        sketch: bytes = design.sketch(state.hidden[index])
        return sketch
