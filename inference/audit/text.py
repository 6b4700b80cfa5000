"""Text under audit: the executor generates greedily and keeps the final hidden state that
predicted each token; an auditor runs one prefill over prompt + generated tokens.

The auditor accepts the tokens when every one is within a logit margin of its own argmax: exact
token ids survive honest hardware noise until two logits nearly tie, and a margin tolerates those
near-ties where a hash of the ids does not. At challenged positions it sketches its hidden states
and the executor opens its own sketches: a model that picks the same tokens more cheaply (a
quantised copy) computes other hidden states. The prefill costs about one forward pass over the
sequence, against one pass per generated token for the generation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from inference.audit.merkle import Commitment
from inference.audit.sketch import SketchDesign


@dataclass(frozen=True)
class TextRun:
    """A generation with what the audit needs: the prompt's ids, the new tokens, and per new
    token the final (normalised) hidden state of the position that predicted it."""

    prompt_ids: tuple[int, ...]
    tokens: tuple[int, ...]
    hidden: npt.NDArray[np.float32]


def _final_norm(model: Any) -> Any:
    return model.model.norm


def generate_with_hidden(
    model: Any,
    prompt_ids: Sequence[int],
    max_new_tokens: int,
    *,
    eos: int | None,
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
) -> TextRun:
    """Greedy decoding with a KV cache (as ``generate`` does, token for token), keeping each
    step's last hidden state; ``temperature`` > 0 samples instead (the study's impostor)."""
    captured: list[torch.Tensor] = []

    def keep(_module: Any, _inputs: Any, output: torch.Tensor) -> None:
        captured.append(output[0, -1].detach().clone())

    handle = _final_norm(model).register_forward_hook(keep)
    tokens: list[int] = []
    try:
        with torch.no_grad():
            ids = torch.tensor([list(prompt_ids)])
            cache = None
            for _ in range(max_new_tokens):
                output = model(input_ids=ids, past_key_values=cache, use_cache=True)
                cache = output.past_key_values
                logits = output.logits[0, -1].float()
                if temperature > 0:
                    probabilities = torch.softmax(logits / temperature, dim=-1)
                    token = int(torch.multinomial(probabilities, 1, generator=generator))
                else:
                    token = int(torch.argmax(logits))
                tokens.append(token)
                if eos is not None and token == eos:
                    break
                ids = torch.tensor([[token]])
    finally:
        handle.remove()
    hidden = torch.stack(captured).float().numpy()
    return TextRun(tuple(prompt_ids), tuple(tokens), hidden)


@dataclass(frozen=True)
class Prefill:
    """The auditor's view: logits and hidden states at the positions that predict each token."""

    logits: npt.NDArray[np.float32]
    hidden: npt.NDArray[np.float32]


def prefill(model: Any, prompt_ids: Sequence[int], tokens: Sequence[int]) -> Prefill:
    """One forward pass over prompt + tokens (the last token is only an output, never fed), with
    the language-model head run on the generated positions alone."""
    if not tokens:
        raise ValueError("nothing to audit: the generation has no tokens")
    captured: list[torch.Tensor] = []
    handle = _final_norm(model).register_forward_hook(
        lambda _m, _i, output: captured.append(output[0].detach().clone())
    )
    sequence = list(prompt_ids) + list(tokens[:-1])
    try:
        with torch.no_grad():
            output = model(
                input_ids=torch.tensor([sequence]), use_cache=False, logits_to_keep=len(tokens)
            )
    finally:
        handle.remove()
    logits = output.logits[0].float().numpy()
    hidden = captured[0][len(prompt_ids) - 1 :].float().numpy()
    return Prefill(np.asarray(logits), np.asarray(hidden))


def token_gaps(logits: npt.NDArray[np.float32], tokens: Sequence[int]) -> npt.NDArray[np.float64]:
    """Per generated token, how far its logit is below the auditor's best (0: the argmax)."""
    chosen = logits[np.arange(len(tokens)), np.asarray(tokens)]
    return np.asarray(logits.max(axis=1) - chosen, dtype=np.float64)


def within_margin(logits: npt.NDArray[np.float32], tokens: Sequence[int], margin: float) -> bool:
    """The auditor's acceptance of the tokens: every one within ``margin`` of the argmax."""
    return bool((token_gaps(logits, tokens) <= margin).all())


def token_payload(token: int) -> bytes:
    """The evidence leaf payload of a token: the id as a uint256 word (abi.encode)."""
    return token.to_bytes(32, "big")


def commit_text(run: TextRun, design: SketchDesign, secret: bytes) -> Commitment:
    """Evidence tree over the token ids, salted sketch tree over the hidden states."""
    sketches = [design.sketch(h) for h in run.hidden]
    return Commitment.build([token_payload(t) for t in run.tokens], sketches, secret)
