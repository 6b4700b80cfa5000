"""The generations the demo's dApp asks for, how each is written on chain, and what the dApp
recorded of each when the oracle called it back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from web3.contract import Contract

from inference.specs import canonical_json, parse_input

CALLBACK_STATUS = ("none", "pending", "verified", "failed")


@dataclass(frozen=True)
class DemoRequest:
    """One generation the dApp asks for."""

    kind: str
    """"image" or "text": the model kind, which picks the input schema."""
    model: str
    input: dict[str, Any]

    @property
    def canonical_input(self) -> bytes:
        """The input as every verifier reads it: validated, canonical JSON."""
        return canonical_json(parse_input(self.kind, json.dumps(self.input)))

    @property
    def suffix(self) -> str:
        return ".png" if self.kind == "image" else ".txt"


def default_requests(image_model: str, text_model: str) -> list[DemoRequest]:
    """An image from the diffusion model and a chat completion from the LLM."""
    image = {"prompt": "A photo of a lighthouse at dusk", "seed": 0, "steps": 8}
    image |= {"width": 64, "height": 64}
    chat = [{"role": "user", "content": "Name three primary colours."}]
    return [
        DemoRequest("image", image_model, image),
        DemoRequest("text", text_model, {"messages": chat, "max_new_tokens": 24}),
    ]


def audited_requests(image_model: str, text_model: str) -> list[DemoRequest]:
    """An image and a completion the dApp asks for in the audited mode (one executor, two
    auditors)."""
    image = {"prompt": "A watercolour of a harbour", "seed": 0, "steps": 8}
    image |= {"width": 64, "height": 64}
    chat = [{"role": "user", "content": "What does a lighthouse keeper do?"}]
    return [
        DemoRequest("image", image_model, image),
        DemoRequest("text", text_model, {"messages": chat, "max_new_tokens": 24}),
    ]


def callback_of(consumer: Contract, task_id: int) -> tuple[str, str | None]:
    entry = consumer.functions.entry(task_id).call()
    status = CALLBACK_STATUS[int(entry[1])]
    digest = bytes(entry[3])
    return status, ("0x" + digest.hex()) if any(digest) else None
