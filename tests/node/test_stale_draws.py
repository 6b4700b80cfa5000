"""A task's randomness is its request block's hash, which the chain forgets 256 blocks later.

Found by bench-e2e: the last task of a 100-task burst waited 40 s for its members' commits
while the busy chain mined some 400 blocks; nobody had drawn it, so it could never be drawn,
its members abandoned it as if a reorg had moved them, and it never ended (the requester's fee
stayed escrowed). Now any node serving the model draws a task still undrawn 128 blocks after
its request, member or not; and a member of a task that can no longer be drawn resolves it,
which refunds the requester and ends it, nobody slashed.

A real node (stepped in this process by `tick()`, inference in a thread) on a real Anvil with
four operators, so that a committee of three leaves one operator out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from oracle_testlib import IMAGE_INPUT, IMAGE_MODEL, assert_balance_invariant_on, in_process_node

from oracle.chain.views import Phase, TaskStatus, read_phase, read_task
from oracle.dev.localnet import OracleChain, oracle_chain
from oracle.node import VerifierNode
from oracle.node.draws import DRAW_MARGIN_BLOCKS
from oracle.node.states import TaskState

#: A second or two of one core: the chain moves on while the job runs.
SLOW_INPUT = {"prompt": "a harbour", "width": 256, "height": 256, "steps": 12}


@pytest.fixture(scope="module")
def net() -> Iterator[OracleChain]:
    with oracle_chain((IMAGE_MODEL,), operators=4) as chain:
        yield chain


def _committee(net: OracleChain, task_id: int) -> list[str]:
    members, _ = net.client().view("committeeOf", task_id, block="pending")
    return [str(member).lower() for member in members]


def _operator(net: OracleChain, inside: bool, committee: list[str]) -> int:
    return next(
        index
        for index, account in enumerate(net.operators)
        if (account.address.lower() in committee) == inside
    )


def _tick_until(node: VerifierNode, done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        node.tick()
        node.wait(0.05)


def test_a_task_undrawn_128_blocks_after_its_request_is_drawn_by_a_node_of_its_model(
    net: OracleChain, tmp_path: Path
) -> None:
    task = net.requester_client().submit(IMAGE_MODEL, IMAGE_INPUT, committee_size=3)
    net.rpc("anvil_mine", [1])
    outsider = _operator(net, inside=False, committee=_committee(net, task.task_id))
    # Not a member, and no keeper by time: only the block margin can make it draw.
    node = in_process_node(net, tmp_path / "node", operator=outsider, keeper_delay_s=None)
    try:
        for _ in range(5):
            node.tick()
        assert read_phase(net.client(), task.task_id) == Phase.DRAW
        net.rpc("anvil_mine", [DRAW_MARGIN_BLOCKS])
        _tick_until(
            node,
            lambda: read_phase(net.client(), task.task_id) != Phase.DRAW,
            "the node to draw the task",
        )
        view = read_task(net.client(), task.task_id)
        assert view is not None and view.status == TaskStatus.OPEN
        assert [m.lower() for m in view.committee] == _committee(net, task.task_id)
    finally:
        node.close()


def test_a_member_resolves_a_task_whose_randomness_is_gone_and_the_requester_is_refunded(
    net: OracleChain, tmp_path: Path
) -> None:
    requester = net.requester_client()
    credit_before = int(net.client().view("creditOf", net.requester.address))
    task = requester.submit(IMAGE_MODEL, SLOW_INPUT, committee_size=3)
    fee = read_task(net.client(), task.task_id).fee  # type: ignore[union-attr]
    net.rpc("anvil_mine", [1])
    member = _operator(net, inside=True, committee=_committee(net, task.task_id))
    node = in_process_node(net, tmp_path / "node", operator=member)
    try:
        _tick_until(node, lambda: node.inference.running(task.task_id), "the job to start")
        net.rpc("anvil_mine", [300])  # while it computes: the request block's hash is gone
        _tick_until(
            node,
            lambda: (
                (record := node.store.get_task(task.task_id)) is not None
                and record.state == TaskState.DONE
            ),
            "the task to end",
        )
        record = node.store.get_task(task.task_id)
        assert record is not None and record.outcome == "expired", record
        steps = [entry.step for entry in node.store.journal_of(task.task_id)]
        assert "undrawable" in steps and "commit_sent" not in steps, steps
    finally:
        node.close()
    result = requester.wait(task.task_id, timeout_s=10)
    assert result.status == "expired", result
    refund = int(net.client().view("creditOf", net.requester.address)) - credit_before
    assert refund == fee > 0, (refund, fee)
    assert not result.payouts or all(p.slashed_wei == 0 for p in result.payouts), result
    assert_balance_invariant_on(net)
