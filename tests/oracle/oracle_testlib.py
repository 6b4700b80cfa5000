"""Inputs and helpers shared by the oracle's end-to-end test modules."""

from __future__ import annotations

from pathlib import Path

from oracle.localnet import NodeProcess, OracleChain

IMAGE_MODEL = "tiny-sd"
TEXT_MODEL = "tiny-llama"
MODELS = (IMAGE_MODEL, TEXT_MODEL)
#: A small, fast image input (64 px, 2 steps); seed 0 means "derive from the task".
IMAGE_INPUT = {"prompt": "a lighthouse at dusk", "width": 64, "height": 64, "steps": 2}
TEXT_INPUT = {"prompt": "The verifier said", "max_new_tokens": 8}


def start_nodes(
    net: OracleChain, root: Path, behaviours: tuple[str, ...] = ("honest",) * 3, **kwargs: object
) -> list[NodeProcess]:
    nodes = [
        NodeProcess(
            net, account, root / f"node{index}", models=MODELS, behaviour=behaviour, **kwargs
        )  # type: ignore[arg-type]
        for index, (account, behaviour) in enumerate(zip(net.operators, behaviours, strict=True))
    ]
    for node in nodes:
        node.start()
    try:
        for node in nodes:
            node.wait_ready()
    except Exception:
        for node in nodes:
            node.kill()
        raise
    return nodes
