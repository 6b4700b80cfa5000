"""Inputs and helpers shared by the oracle's end-to-end test modules."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

from web3 import Web3

from oracle.config import ApiSettings, NodeConfig, NodeSettings
from oracle.dev.localnet import (
    E2E_ORACLE_CONFIG,
    NodeProcess,
    OracleChain,
    chain_settings,
    oracle_chain,
    stop_nodes,
)
from oracle.node import VerifierNode
from oracle.sdk.results import TaskResult

IMAGE_MODEL = "tiny-sd"
TEXT_MODEL = "tiny-llama"
MODELS = (IMAGE_MODEL, TEXT_MODEL)
#: A small, fast image input (64 px, 2 steps); seed 0 means "derive from the task".
IMAGE_INPUT = {"prompt": "a lighthouse at dusk", "width": 64, "height": 64, "steps": 2}
TEXT_INPUT = {"prompt": "The verifier said", "max_new_tokens": 8}


def start_nodes(
    net: OracleChain,
    root: Path,
    conducts: tuple[str, ...] = ("honest",) * 3,
    models: tuple[str, ...] = MODELS,
    **kwargs: object,
) -> list[NodeProcess]:
    nodes = [
        NodeProcess(net, account, root / f"node{index}", models=models, conduct=conduct, **kwargs)  # type: ignore[arg-type]
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


@contextlib.contextmanager
def image_chain(commit_window: int, operators: int = 3) -> Iterator[OracleChain]:
    """A network serving the image model whose oracle has a commit window of its own."""
    config = dataclasses.replace(E2E_ORACLE_CONFIG, commit_window=commit_window)
    with oracle_chain((IMAGE_MODEL,), operators=operators, config=config) as chain:
        yield chain


@contextlib.contextmanager
def running_image_nodes(net: OracleChain, root: Path) -> Iterator[list[NodeProcess]]:
    """An honest node process per operator, serving the image model, stopped afterwards."""
    nodes = start_nodes(net, root, ("honest",) * len(net.operators), models=(IMAGE_MODEL,))
    try:
        yield nodes
    finally:
        stop_nodes(nodes)


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


def assert_balance_invariant_on(net: OracleChain) -> None:
    """The oracle's ether covers every stake, credit and escrowed fee of the network's people
    (tests/contracts' invariant, on this network's chain)."""
    sys.path.append(str(Path(__file__).resolve().parents[1] / "contracts"))
    from contract_testlib import assert_balance_invariant

    oracle = net.deployment.oracle_contract(Web3(Web3.HTTPProvider(net.rpc_url)))
    people = [a.address for a in (*net.operators, net.requester, net.owner)]
    assert_balance_invariant(oracle, people)


def assert_everybody_paid(result: TaskResult, nodes: list[NodeProcess]) -> None:
    """The task resolved with the whole committee agreeing, each member paid, nobody slashed."""
    assert result.status == "resolved", result
    assert result.support == len(nodes), result
    assert {p.account for p in result.payouts} == {n.address for n in nodes}
    assert all(p.credited_wei > 0 and p.slashed_wei == 0 for p in result.payouts), result.payouts
