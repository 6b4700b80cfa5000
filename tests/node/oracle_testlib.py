"""Inputs and helpers shared by the oracle's end-to-end test modules."""

from __future__ import annotations

from pathlib import Path

from oracle.config import ApiSettings, NodeConfig, NodeSettings
from oracle.dev.localnet import NodeProcess, OracleChain, chain_settings
from oracle.node import VerifierNode

IMAGE_MODEL = "tiny-sd"
TEXT_MODEL = "tiny-llama"
MODELS = (IMAGE_MODEL, TEXT_MODEL)
#: A small, fast image input (64 px, 2 steps); seed 0 means "derive from the task".
IMAGE_INPUT = {"prompt": "a lighthouse at dusk", "width": 64, "height": 64, "steps": 2}
TEXT_INPUT = {"prompt": "The verifier said", "max_new_tokens": 8}


def start_nodes(
    net: OracleChain, root: Path, conducts: tuple[str, ...] = ("honest",) * 3, **kwargs: object
) -> list[NodeProcess]:
    nodes = [
        NodeProcess(net, account, root / f"node{index}", models=MODELS, conduct=conduct, **kwargs)  # type: ignore[arg-type]
        for index, (account, conduct) in enumerate(zip(net.operators, conducts, strict=True))
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


def in_process_node(
    net: OracleChain,
    data_dir: Path,
    operator: int = 0,
    api: ApiSettings | None = None,
    **settings: object,
) -> VerifierNode:
    """A node of operator `operator` driven step by step in this process (inference in a
    thread), serving the image model; `settings` override NodeSettings (recheck every second by
    default). Its API is off unless `api` is given (then call `start_api()`)."""
    values: dict[str, object] = {"recheck_interval_s": 1, **settings}
    config = NodeConfig(
        api=api or ApiSettings(enabled=False),
        chain=chain_settings(net.rpc_url, net.deployment),
        node=NodeSettings(
            data_dir=data_dir,
            models=[IMAGE_MODEL],
            worker="thread",
            **values,  # type: ignore[arg-type]
        ),
    )
    return VerifierNode(config, net.operators[operator])
