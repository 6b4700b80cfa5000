"""What a node computes with is the chain's draw, whenever it looks and whatever happened before.

Three faults the chaos run found (tests/node/test_chaos.py), each reproduced here in-process
against a real Anvil:
- a node catching up on a task drawn more than 256 blocks earlier read its randomness from
  `committeeOf`, which recomputes it from blockhash(drawBlock): zero by then, so the node computed
  another image than its peers and was slashed as a deviator;
- a reorg that replaces the request's block changes the randomness (and maybe the committee): a
  node that had taken the task on committed a digest of the old randomness and was outvoted;
- a node started while its RPC did not answer exited instead of waiting for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from oracle_testlib import IMAGE_INPUT, IMAGE_MODEL, in_process_node

from oracle.chain.views import read_draw
from oracle.config import NodeConfig, NodeSettings
from oracle.dev.flaky_proxy import FlakyProxy
from oracle.dev.localnet import OracleChain, chain_settings, oracle_chain
from oracle.node import VerifierNode, start_node
from oracle.node.states import TaskState


@pytest.fixture()
def net() -> Iterator[OracleChain]:
    with oracle_chain((IMAGE_MODEL,), operators=3) as chain:
        yield chain


def _tick_until(node: VerifierNode, done: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        node.tick()
        node.wait(0.05)


def _drawn_entropy(net: OracleChain, task_id: int) -> bytes:
    chain = net.client()
    topics = [chain.event_topic("CommitteeDrawn"), "0x" + task_id.to_bytes(32, "big").hex()]
    (event,) = chain.logs(0, chain.block_number(), topics=topics)
    return bytes(event["args"]["entropy"])


def test_a_node_catching_up_after_256_blocks_computes_with_the_drawn_randomness(
    net: OracleChain, tmp_path: Path
) -> None:
    task_id = net.requester_client().submit(IMAGE_MODEL, IMAGE_INPUT).task_id
    net.client(net.requester).transact("drawCommittees", 10)
    entropy = _drawn_entropy(net, task_id)
    net.rpc("anvil_mine", [300])  # blockhash(drawBlock) reads zero from now on
    recomputed = net.client().view("committeeOf", task_id)[1]
    assert bytes(recomputed) == bytes(32)  # what the node used to take

    node = in_process_node(net, tmp_path / "late")
    try:
        _tick_until(node, lambda: node.store.get_task(task_id) is not None, 60, "the take-on")
        record = node.store.get_task(task_id)
        assert record is not None and record.entropy == entropy != bytes(32)
    finally:
        node.close()


def test_a_reorg_that_replaces_the_request_block_makes_the_node_compute_again(
    net: OracleChain, tmp_path: Path
) -> None:
    node = in_process_node(net, tmp_path / "node")
    try:
        before = net.rpc("evm_snapshot", [])
        task_id = net.requester_client().submit(IMAGE_MODEL, IMAGE_INPUT).task_id
        _tick_until(node, lambda: node.store.get_task(task_id) is not None, 60, "the take-on")
        record = node.store.get_task(task_id)
        assert record is not None
        old_entropy = record.entropy

        # The request's block is replaced: the same request lands in another block.
        net.rpc("evm_revert", [before])
        net.rpc("evm_increaseTime", [7])
        again = net.requester_client().submit(IMAGE_MODEL, IMAGE_INPUT).task_id
        assert again == task_id
        net.rpc("anvil_mine", [1])
        draw = read_draw(node.client, task_id, record.request_block)
        assert draw is not None and draw.entropy != old_entropy

        _tick_until(
            node,
            lambda: node.store.get_task(task_id).state == TaskState.COMMITTED,  # type: ignore[union-attr]
            120,
            "the commit",
        )
        steps = [entry.step for entry in node.store.journal_of(task_id)]
        assert "redrawn" in steps, steps
        assert steps.index("redrawn") < steps.index("commit_sent"), steps
        record = node.store.get_task(task_id)
        assert record is not None and record.entropy == draw.entropy
    finally:
        node.close()


def test_a_node_started_while_its_rpc_is_down_waits_for_it(
    net: OracleChain, tmp_path: Path
) -> None:
    proxy = FlakyProxy(net.anvil.port)
    proxy.up = False
    config = NodeConfig(
        chain=chain_settings(proxy.url, net.deployment, max_retries=0, rpc_timeout_s=1.0),
        node=NodeSettings(data_dir=tmp_path / "node", models=[IMAGE_MODEL], worker="thread"),
    )
    started: list[VerifierNode] = []
    thread = threading.Thread(
        target=lambda: started.append(start_node(config, net.operators[0], max_wait_s=1.0)),
        daemon=True,
    )
    thread.start()
    time.sleep(3)
    assert thread.is_alive() and not started  # still waiting, not exited
    proxy.up = True
    thread.join(timeout=60)
    assert started, "the node did not start once its RPC answered"
    started[0].close()
