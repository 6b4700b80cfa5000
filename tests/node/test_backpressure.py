"""Backpressure: a node whose inference queue would outgrow its commit window pauses its own
assignments, so a flood of requests is refused by the contract (NotEnoughOperators) instead of
drawing the node for more than it can compute in time; it resumes once drained, lifts a pause
it took even after a restart, and never lifts its operator's own pause.

A real node (stepped in this process by `tick()`, inference in a thread) on a real Anvil.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from oracle_testlib import IMAGE_MODEL, assert_balance_invariant_on, in_process_node

from oracle.chain.reverts import ContractRevertError
from oracle.chain.views import read_operator
from oracle.dev.localnet import OracleChain, oracle_chain
from oracle.node import VerifierNode
from oracle.node.states import TaskState

#: About a second of one core here: a few of them queue seconds of work.
SLOW_INPUT = {"prompt": "a harbour", "width": 256, "height": 256, "steps": 12}
#: Of the test chain's 600 s commit window: pause above 1.8 s of queued work, resume below 0.6 s.
THRESHOLDS = {"pause_share": 0.003, "resume_share": 0.001}


@pytest.fixture(scope="module")
def net() -> Iterator[OracleChain]:
    with oracle_chain((IMAGE_MODEL,), operators=3) as chain:
        yield chain


def _paused(net: OracleChain, operator: int = 0) -> bool:
    return read_operator(net.client(), net.operators[operator].address).paused


def _tick_until(node: VerifierNode, done: object, what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        node.tick()
        node.wait(0.05)


def _states(node: VerifierNode, task_ids: list[int]) -> list[TaskState]:
    records = [node.store.get_task(task_id) for task_id in task_ids]
    return [TaskState(r.state) for r in records if r is not None]


def test_a_flood_pauses_the_node_until_its_queue_drains_even_across_a_restart(
    net: OracleChain, tmp_path: Path
) -> None:
    """The attack: a requester floods the model's operators with valid tasks, so that honest
    nodes queue more than their commit window and get slashed for the misses."""
    requester = net.requester_client()
    node = in_process_node(net, tmp_path / "node", **THRESHOLDS)
    try:
        # 3 of 3 operators: the node is drawn for every task.
        flood = [requester.submit(IMAGE_MODEL, SLOW_INPUT).task_id for _ in range(5)]
        _tick_until(node, lambda: _paused(net), "the node to pause its assignments")
        assert node.backpressure.paused_by_node
        assert (node.inference.backlog_seconds() or 0) > 0
        assert b"genoracle_assignments_paused_by_node 1.0" in node.metrics.render()

        # The contract now refuses the flood at the door, with a reason the requester can read.
        with pytest.raises(ContractRevertError) as refused:
            requester.submit(IMAGE_MODEL, SLOW_INPUT)
        assert refused.value.name == "NotEnoughOperators"
    finally:
        node.close()  # a crash or restart while paused

    node = in_process_node(net, tmp_path / "node", **THRESHOLDS)
    try:
        assert node.backpressure.paused_by_node  # it remembers the pause is its own
        node.resume()
        _tick_until(
            node,
            lambda: (
                set(_states(node, flood)) <= {TaskState.COMMITTED, TaskState.DONE}
                and not _paused(net)
            ),
            "every flooded task committed and the node drawable again",
        )
        assert TaskState.MISSED not in _states(node, flood)
        assert not node.backpressure.paused_by_node
        assert b"genoracle_assignments_paused_by_node 0.0" in node.metrics.render()
        assert requester.submit(IMAGE_MODEL, SLOW_INPUT).task_id > flood[-1]  # drawable again
    finally:
        node.close()
    assert_balance_invariant_on(net)


def test_the_node_never_lifts_its_operators_own_pause(net: OracleChain, tmp_path: Path) -> None:
    operator = net.client(net.operators[1])
    operator.transact("pauseAssignments")
    node = in_process_node(net, tmp_path / "node", operator=1, **THRESHOLDS)
    try:
        # It was drawn for the earlier test's tasks: it serves them (a pause keeps assigned
        # tasks), then idles with nothing queued, below the threshold to resume.
        _tick_until(node, lambda: node.inference.backlog_seconds() == 0, "an empty queue")
        for _ in range(30):  # 1.5 s: the backpressure looks every second
            node.tick()
            node.wait(0.05)
        assert _paused(net, 1) and not node.backpressure.paused_by_node
    finally:
        node.close()
        operator.transact("resumeAssignments")
