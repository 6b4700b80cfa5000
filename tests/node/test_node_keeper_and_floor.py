"""The node as a keeper, and its own check of the tolerance floor, in-process against a real Anvil.

- An absent committee must still be drawn, or its members would escape the no-commit slash: a
  node that serves the model but was not drawn draws the task itself after `keeper_delay_s`.
- A request whose tolerance is below the model's honest floor (a model registered with a lower
  default than its manifest calibrated) would get honest hardware noise slashed: the node refuses
  it and records why, and never commits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from eth_utils.address import to_checksum_address
from oracle_testlib import IMAGE_INPUT, IMAGE_MODEL, in_process_node

from inference.manifest import load_manifest
from inference.models import resolve_model_folder
from oracle.chain.views import Phase, TaskStatus, commitment, read_phase, read_task
from oracle.dev.localnet import OracleChain, oracle_chain
from oracle.node import VerifierNode
from oracle.node.states import TaskState
from oracle.sdk.client import USE_DEFAULT_TOLERANCE


def _node(net: OracleChain, tmp_path: Path, **settings: object) -> VerifierNode:
    return in_process_node(net, tmp_path / "node", **settings)


def _tick_until(node: VerifierNode, done: Callable[[], bool], ticks: int = 400) -> None:
    for _ in range(ticks):
        node.tick()
        if done():
            return
        node.wait(0.05)
    raise AssertionError("condition not reached")


def test_a_node_draws_a_task_whose_members_are_absent(tmp_path: Path) -> None:
    with oracle_chain((IMAGE_MODEL,), operators=4) as net:
        client = net.requester_client()
        keeper = net.operators[0].address
        # Four operators, three seats: find a task the keeper is not drawn for.
        for _ in range(20):
            task = client.submit(IMAGE_MODEL, IMAGE_INPUT)
            raw, _ = net.client().view("committeeOf", task.task_id, block="pending")
            committee = [to_checksum_address(member) for member in raw]
            if keeper not in committee:
                break
        else:
            raise AssertionError("the keeper was drawn for 20 tasks in a row")
        node = _node(net, tmp_path, keeper_delay_s=0.2)
        try:
            # Nobody else runs a node: only the keeper can draw it.
            _tick_until(node, lambda: read_phase(net.client(), task.task_id) != Phase.DRAW)
        finally:
            node.close()
        view = read_task(net.client(), task.task_id)
        assert view is not None and view.status == TaskStatus.OPEN
        assert list(view.committee) == list(committee)
        # The absent members now answer for not committing.
        net.advance_time(10_000)
        net.client(net.requester).transact("resolve", task.task_id)
        result = client.result(task.task_id)
        assert result is not None and result.status == "expired"
        slashed = {p.account for p in result.payouts if p.slashed_wei > 0}
        assert slashed == set(committee)


def test_a_node_refuses_a_tolerance_below_its_models_floor(tmp_path: Path) -> None:
    manifest = load_manifest(resolve_model_folder(IMAGE_MODEL))
    assert manifest.tolerance.to_uint32() != 0
    with oracle_chain((), operators=3) as net:
        model_id = bytes(manifest.model_id)
        # Registered with a floor of 0, below what the study calibrated for this model.
        net.client(net.owner).registry().transact(
            "registerModel",
            model_id,
            0,
            manifest.digest_scheme,
            0,
            manifest.maximum_tolerance.to_uint32(),
            "test:floor-0",
        )
        for operator in net.operators:
            net.client(operator).transact("serveModel", model_id)
        net.models[IMAGE_MODEL] = model_id
        # Sent as the chain's default (0): the SDK would ask for what the input needs instead.
        requester = net.requester_client()
        view = requester.model(IMAGE_MODEL)
        receipt = requester.chain.transact(
            "requestGeneration",
            model_id,
            requester.encode_input(view, IMAGE_INPUT),
            3,
            USE_DEFAULT_TOLERANCE,
            0,
            value=requester.minimum_fee(3),
        )
        task_id = next(
            int(e["args"]["taskId"])
            for e in requester.chain.receipt_events(receipt)
            if e["event"] == "TaskRequested"
        )
        node = _node(net, tmp_path, keeper_delay_s=None)
        try:
            _tick_until(node, lambda: bool(node.store.rejections()))
            reasons = [r.reason for r in node.store.rejections() if r.task_id == task_id]
            assert reasons and "below the model's honest floor" in reasons[0]
            assert node.store.get_task(task_id) is None  # never taken, never committed
        finally:
            node.close()


def test_a_peers_commit_wakes_a_member_that_has_committed(tmp_path: Path) -> None:
    """The last commit opens the reveal phase; a member that committed earlier must look at the
    task at once (it may be the one to collect the openings), not at its next recheck."""
    with oracle_chain((IMAGE_MODEL,), operators=3) as net:
        node = _node(net, tmp_path, keeper_delay_s=None, recheck_interval_s=600)
        try:
            task = net.requester_client().submit(IMAGE_MODEL, IMAGE_INPUT)
            _tick_until(
                node,
                lambda: (
                    (record := node.store.get_task(task.task_id)) is not None
                    and record.state == TaskState.COMMITTED
                ),
            )
            node.tick()  # our own commit's event comes by
            node.scheduler.unschedule(task.task_id)
            peer = net.operators[1]
            salt = b"\x01" * 32
            sealed = commitment(
                net.client().chain_id,
                net.deployment.oracle,
                task.task_id,
                peer.address,
                b"\x02" * 32,
                salt,
            )
            net.client(peer).transact("commit", task.task_id, sealed)
            for event in node.listener.poll():
                node.handle(event)
            assert node.scheduler.is_scheduled(task.task_id)
        finally:
            node.close()
