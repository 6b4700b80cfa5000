"""The node's event handling, driven step by step in-process against a real Anvil.

A log is marked seen before the node handles it, so handling must not depend on the RPC: an
outage there would otherwise leave a task stored but never scheduled until the node restarted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from oracle_testlib import IMAGE_INPUT, IMAGE_MODEL

from oracle.config import NodeConfig, NodeSettings
from oracle.dev.flaky_proxy import FlakyProxy
from oracle.dev.localnet import OracleChain, chain_settings, oracle_chain
from oracle.errors import ChainUnavailableError
from oracle.node import VerifierNode
from oracle.node.states import TaskState


@pytest.fixture(scope="module")
def net() -> Iterator[OracleChain]:
    with oracle_chain((IMAGE_MODEL,), operators=3) as chain:
        yield chain


def test_an_rpc_outage_while_an_old_request_is_handled_loses_no_task(
    net: OracleChain, tmp_path: Path
) -> None:
    proxy = FlakyProxy(net.anvil.port)
    config = NodeConfig(
        chain=chain_settings(proxy.url, net.deployment, max_retries=0, rpc_timeout_s=2.0),
        node=NodeSettings(
            data_dir=tmp_path / "node", models=[IMAGE_MODEL], worker="thread", recheck_interval_s=1
        ),
    )
    node = VerifierNode(config, net.operators[0])
    try:
        # 3 of 3 operators: this node is drawn for sure.
        task = net.requester_client().submit(IMAGE_MODEL, IMAGE_INPUT, committee_size=3)
        net.rpc("anvil_mine", [3])  # the request is now behind the head: an "old" request

        events = node.listener.poll()
        assert [e["event"] for e in events].count("TaskRequested") == 1
        proxy.up = False
        for event in events:
            node.handle(event)  # must not touch the RPC (the logs are already marked seen)
        assert node.draws.waiting(task.task_id)  # waits for its committee ...
        with pytest.raises(ChainUnavailableError):
            node.draws.check(node.listener.head)  # ... which needs the chain: the check fails ...
        assert node.draws.waiting(task.task_id)  # ... and the request still waits

        proxy.up = True
        record = None
        for _ in range(600):  # 30 s at most
            node.tick()
            record = node.store.get_task(task.task_id)
            if record is not None and record.state in (TaskState.COMMITTED, TaskState.DONE):
                break
            node.wait(0.05)
        assert record is not None and record.state in (TaskState.COMMITTED, TaskState.DONE), record
    finally:
        node.close()
        proxy.close()
