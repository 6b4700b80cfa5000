"""Faults with real node processes: dishonest operators, kill -9, RPC outages, an Anvil restart
and reorgs.

Nodes A and B are honest and live for the whole module; the third operator's node (C) is started
per test with the conduct under test, or left down so the reveal phase waits for the commit
deadline, which the tests then move past by advancing the chain's clock.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_typing import HexStr
from oracle_testlib import IMAGE_INPUT, IMAGE_MODEL, MODELS

from oracle.chain.views import read_task
from oracle.dev.flaky_proxy import FlakyProxy
from oracle.dev.localnet import NodeProcess, OracleChain, oracle_chain, stop_nodes, wait_until
from oracle.node.store import Store
from oracle.sdk.client import OracleClient

COMMIT_WINDOW = 600  # E2E_ORACLE_CONFIG.commit_window


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OracleChain]:
    state = tmp_path_factory.mktemp("anvil") / "state.json"  # so that Anvil can be restarted
    with oracle_chain(MODELS, operators=3, anvil_state=state) as chain:
        yield chain


@pytest.fixture(scope="module")
def honest_pair(
    net: OracleChain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[NodeProcess]]:
    root = tmp_path_factory.mktemp("pair")
    pair = [
        NodeProcess(net, account, root / f"node{i}", models=MODELS)
        for i, account in enumerate(net.operators[:2])
    ]
    for node in pair:
        node.start()
    for node in pair:
        node.wait_ready()
    yield pair
    stop_nodes(pair)


def third_node(
    net: OracleChain, tmp_path: Path, conduct: str = "honest", **kwargs: Any
) -> NodeProcess:
    node = NodeProcess(
        net, net.operators[2], tmp_path / "third", models=MODELS, conduct=conduct, **kwargs
    )
    node.start()
    node.wait_ready()
    return node


def committed(net: OracleChain, task_id: int, address: str) -> bool:
    view = read_task(net.client(), task_id)
    assert view is not None
    index = view.member_index(address)
    return index is not None and view.committed[index]


def journal_steps(node: NodeProcess, task_id: int) -> list[str]:
    store = Store(node.data_dir / "node.sqlite3")
    try:
        return [entry.step for entry in store.journal_of(task_id)]
    finally:
        store.close()


def payout_of(result: Any, address: str) -> tuple[int, int]:
    for payout in result.payouts:
        if payout.account == address:
            return payout.credited_wei, payout.slashed_wei
    return 0, 0


# `random` (a node revealing random bits) is outvoted the same way as `lazy`; it runs in
# make test-slow to keep the default suite within its 15 minutes.
@pytest.mark.parametrize("conduct", ["lazy", pytest.param("random", marks=pytest.mark.slow)])
def test_lazy_or_random_node_is_outvoted_and_slashed(
    net: OracleChain, honest_pair: list[NodeProcess], tmp_path: Path, conduct: str
) -> None:
    """`lazy` runs a cheaper generation (few steps), `random` reveals random bits: either way its
    digest is far from the honest pair's, which wins 2 of 3 and takes its slashed stake."""
    lazy = third_node(net, tmp_path, conduct)
    try:
        client = net.requester_client()
        task = client.submit(IMAGE_MODEL, IMAGE_INPUT)
        result = client.wait(task.task_id, timeout_s=120)
    finally:
        lazy.stop()
    assert result.status == "resolved"
    assert result.support == 2
    lazy_vote = next(v for v in result.votes if v.operator == lazy.address)
    assert lazy_vote.revealed and lazy_vote.agrees is False
    assert lazy_vote.distances is not None and lazy_vote.distances[0] > 0
    assert payout_of(result, lazy.address)[1] > 0  # slashed
    for node in honest_pair:
        credited, slashed = payout_of(result, node.address)
        assert credited > 0 and slashed == 0


def test_silent_node_is_slashed_and_the_task_still_resolves(
    net: OracleChain, honest_pair: list[NodeProcess], tmp_path: Path
) -> None:
    silent = third_node(net, tmp_path, "silent")
    try:
        client = net.requester_client()
        task = client.submit(IMAGE_MODEL, IMAGE_INPUT)
        wait_until(
            lambda: all(committed(net, task.task_id, n.address) for n in honest_pair),
            60,
            "the honest commits",
        )
        assert not committed(net, task.task_id, silent.address)
        # Still open: nothing to verify an artifact against yet.
        early = httpx.post(
            f"{honest_pair[0].api_url}/tasks/{task.task_id}/verify",
            files={"file": ("a.png", b"x")},
            timeout=30,
        )
        assert early.status_code == 409 and "wait until it is resolved" in early.json()["detail"]
        # Openings are handed out only once no more commits can come (else they could be copied).
        opening = httpx.get(f"{honest_pair[0].api_url}/tasks/{task.task_id}/opening", timeout=30)
        assert opening.status_code == 409 and "commit phase" in opening.json()["detail"]
        none = httpx.get(f"{silent.api_url}/tasks/{task.task_id}/opening", timeout=30)
        assert none.status_code == 404 and "has not committed" in none.json()["detail"]
        net.advance_time(COMMIT_WINDOW + 1)
        result = client.wait(task.task_id, timeout_s=60)
        opening = httpx.get(f"{honest_pair[0].api_url}/tasks/{task.task_id}/opening", timeout=30)
    finally:
        silent.stop()
    assert result.status == "resolved"
    assert result.support == 2
    assert opening.status_code == 200 and opening.json()["digest"] == result.digest
    # The two honest members revealed in one aggregated transaction, which also resolved.
    oracle = net.deployment.oracle_contract(net.client().w3)
    reveals = oracle.events.DigestRevealed().get_logs(
        from_block=0, argument_filters={"taskId": task.task_id}
    )
    assert [log["transactionHash"].to_0x_hex() for log in reveals] == [result.resolution_tx] * 2
    assert payout_of(result, silent.address)[1] > 0
    assert all(payout_of(result, n.address)[0] > 0 for n in honest_pair)


def test_no_reveal_node_is_slashed_and_an_honest_node_resolves_after_the_deadline(
    net: OracleChain, honest_pair: list[NodeProcess], tmp_path: Path
) -> None:
    withholder = third_node(net, tmp_path, "no-reveal")
    try:
        client = net.requester_client()
        task = client.submit(IMAGE_MODEL, IMAGE_INPUT)

        def revealed() -> int:
            now = client.result(task.task_id)
            assert now is not None and now.status in ("drawing", "open")
            return sum(vote.revealed for vote in now.votes)

        wait_until(lambda: revealed() == 2, 60, "the two honest reveals")
        time.sleep(1.0)  # the withholder had its chance: it committed, it will not reveal
        assert revealed() == 2
        # Nobody else will reveal: once the reveal window closes, an honest node resolves.
        net.advance_time(2 * COMMIT_WINDOW + 1)
        result = client.wait(task.task_id, timeout_s=60)
    finally:
        withholder.stop()
    assert result.status == "resolved" and result.support == 2
    assert result.resolution_tx is not None
    resolver = net.client().w3.eth.get_transaction(HexStr(result.resolution_tx))["from"]
    assert resolver in {n.address for n in honest_pair}
    assert payout_of(result, withholder.address)[1] > 0
    assert all(payout_of(result, n.address)[0] > 0 for n in honest_pair)


def test_kill_9_after_commit_mined_then_restart_reveals_and_is_paid(
    net: OracleChain, honest_pair: list[NodeProcess]
) -> None:
    victim = honest_pair[0]
    client = net.requester_client()
    task = client.submit(IMAGE_MODEL, IMAGE_INPUT)
    # Both honest commits must be in before the clock moves, or the task lacks a quorum.
    wait_until(
        lambda: all(committed(net, task.task_id, n.address) for n in honest_pair),
        60,
        "the honest commits",
    )
    victim.kill(signal.SIGKILL)
    net.advance_time(COMMIT_WINDOW + 1)  # the third operator is down: reveal phase by deadline
    victim.start()
    victim.wait_ready()
    result = client.wait(task.task_id, timeout_s=60)
    assert result.status == "resolved" and result.support == 2
    credited, slashed = payout_of(result, victim.address)
    assert credited > 0 and slashed == 0


def _pending_commit(net: OracleChain, address: str) -> bool:
    pending = net.rpc("txpool_content", [])["pending"]
    return any(sender.lower() == address.lower() for sender in pending)


def _request_image_by_hand(net: OracleChain, client: OracleClient) -> int:
    """With automine off: send an image request, mine it, return its task id."""
    model_view = client.model(IMAGE_MODEL)
    sent = client.chain.send(
        "requestGeneration",
        model_view.model_id,
        client.encode_input(model_view, IMAGE_INPUT),
        3,
        model_view.default_tolerance,
        0,
        value=client.minimum_fee(3),
    )
    net.rpc("evm_mine", [])
    receipt = client.chain.wait_for_receipt(sent.tx_hash)
    return next(int(e["args"]["taskId"]) for e in client.chain.receipt_events(receipt))


@pytest.mark.parametrize("fate", ["mined", "dropped"])
def test_kill_9_between_sending_and_mining_the_commit(
    net: OracleChain, honest_pair: list[NodeProcess], fate: str
) -> None:
    """The commit is in the mempool when the node dies; it is then mined (the restarted node
    must see it and reveal) or dropped (the restarted node must commit again, same salt)."""
    victim, other = honest_pair
    client = net.requester_client()
    net.rpc("evm_setAutomine", [False])
    try:
        task_id = _request_image_by_hand(net, client)
        wait_until(lambda: _pending_commit(net, victim.address), 60, "the victim's pending commit")
        wait_until(lambda: _pending_commit(net, other.address), 60, "the other pending commit")
        victim.kill(signal.SIGKILL)
        store = Store(victim.data_dir / "node.sqlite3")
        vote = store.get_vote(task_id)
        store.close()
        assert vote is not None and vote.commit_tx is not None
        if fate == "dropped":
            net.rpc("anvil_dropTransaction", [vote.commit_tx])
        net.rpc("evm_mine", [])
    finally:
        net.rpc("evm_setAutomine", [True])
    assert committed(net, task_id, victim.address) == (fate == "mined")
    victim.start()
    victim.wait_ready()
    wait_until(lambda: committed(net, task_id, victim.address), 60, "the victim's commit")
    steps = journal_steps(victim, task_id)
    assert steps.count("commit_sent") == (1 if fate == "mined" else 2)
    assert ("commit_lost" in steps) == (fate == "dropped")
    net.advance_time(COMMIT_WINDOW + 1)
    result = client.wait(task_id, timeout_s=60)
    assert result.status == "resolved" and result.support == 2
    credited, slashed = payout_of(result, victim.address)
    assert credited > 0 and slashed == 0


def test_rpc_unreachable_for_a_while_then_the_node_catches_up(
    net: OracleChain, honest_pair: list[NodeProcess], tmp_path: Path
) -> None:
    proxy = FlakyProxy(net.anvil.port)
    node = third_node(net, tmp_path, rpc_url=proxy.url)
    try:
        proxy.up = False
        client = net.requester_client()
        task = client.submit(IMAGE_MODEL, IMAGE_INPUT)
        wait_until(
            lambda: all(committed(net, task.task_id, n.address) for n in honest_pair),
            60,
            "the honest commits",
        )
        wait_until(lambda: node.get("/health").status_code == 503, 30, "the node to see the outage")
        assert not committed(net, task.task_id, node.address)
        proxy.up = True
        result = client.wait(task.task_id, timeout_s=60)
        wait_until(lambda: node.get("/health").json()["rpc_reachable"], 10, "health to recover")
    finally:
        node.stop()
        proxy.close()
    assert result.status == "resolved" and result.support == 3
    assert payout_of(result, node.address)[0] > 0


def test_anvil_restarted_mid_task_the_nodes_reconnect_commit_again_and_are_paid(
    net: OracleChain, honest_pair: list[NodeProcess], tmp_path: Path
) -> None:
    """The three commits are in Anvil's mempool when it stops: the nodes see connection refused,
    Anvil comes back a few seconds later on the same port with its chain but without its
    mempool, and each node notices its commit is gone, sends it again (same salt) and is paid."""
    third = third_node(net, tmp_path)
    nodes = [*honest_pair, third]
    client = net.requester_client()
    chain = net.client()
    net.rpc("evm_setAutomine", [False])
    try:
        task_id = _request_image_by_hand(net, client)
        wait_until(
            lambda: all(_pending_commit(net, n.address) for n in nodes), 60, "the pending commits"
        )
        head_before = chain.head()
        net.anvil.stop()
        down_since = time.monotonic()
        wait_until(
            lambda: all(n.get("/health").status_code == 503 for n in nodes),
            30,
            "the nodes to see connection refused",
        )
        time.sleep(max(0.0, 3.0 - (time.monotonic() - down_since)))  # down a few seconds
        net.anvil.start()  # same port, same chain, empty mempool, automine
        result = client.wait(task_id, timeout_s=60)
        wait_until(
            lambda: all(n.get("/health").json()["rpc_reachable"] for n in nodes), 10, "health"
        )
    finally:
        if not net.anvil.running:
            net.anvil.start()
        net.rpc("evm_setAutomine", [True])
        third.stop()
    assert result.status == "resolved" and result.support == 3
    for node in nodes:
        credited, slashed = payout_of(result, node.address)
        assert credited > 0 and slashed == 0
        steps = journal_steps(node, task_id)
        assert steps.count("commit_sent") == 2 and "commit_lost" in steps
    commit_logs = [
        e
        for e in chain.logs(int(head_before["number"]), chain.block_number())
        if e["event"] == "CommitSubmitted" and int(e["args"]["taskId"]) == task_id
    ]
    assert sorted(e["args"]["operator"] for e in commit_logs) == sorted(n.address for n in nodes)
    # The restarted chain went on from the same head, and its clock did not run backwards.
    resumed = chain.w3.eth.get_block(int(head_before["number"]) + 1)
    assert resumed["parentHash"] == head_before["hash"]
    assert resumed["timestamp"] >= head_before["timestamp"]


def test_reorg_of_two_blocks_around_commits_loses_no_vote_and_doubles_none(
    net: OracleChain, honest_pair: list[NodeProcess]
) -> None:
    """Two blocks holding the commits are replaced: A's commit is re-included in the new branch
    (A must not commit again), B's is gone (B must commit again)."""
    moved, lost = honest_pair
    client = net.requester_client()
    task = client.submit(IMAGE_MODEL, IMAGE_INPUT)
    wait_until(
        lambda: all(committed(net, task.task_id, n.address) for n in honest_pair),
        60,
        "both commits",
    )
    chain = net.client()
    head = chain.block_number()
    commits = [e for e in chain.logs(head - 1, head) if e["event"] == "CommitSubmitted"]
    assert len(commits) == 2, "the two commits should be the last two blocks"
    moved_tx = chain.w3.eth.get_transaction(
        next(e for e in commits if e["args"]["operator"] == moved.address)["transactionHash"]
    )
    replay = {
        "from": moved.address,
        "to": moved_tx["to"],
        "data": moved_tx["input"].to_0x_hex(),
        # Re-included first, this commit also draws the task (the first commit draws).
        "gas": hex(max(int(moved_tx["gas"]), 1_500_000)),
    }
    net.rpc("anvil_reorg", [2, [[replay, 1]]])
    assert committed(net, task.task_id, moved.address)
    wait_until(lambda: committed(net, task.task_id, lost.address), 30, "the lost commit again")
    net.advance_time(COMMIT_WINDOW + 1)
    result = client.wait(task.task_id, timeout_s=60)
    assert result.status == "resolved" and result.support == 2
    for node in honest_pair:
        credited, slashed = payout_of(result, node.address)
        assert credited > 0 and slashed == 0
    request_block = task.block_number
    commit_logs = [
        e
        for e in chain.logs(request_block, chain.block_number())
        if e["event"] == "CommitSubmitted" and int(e["args"]["taskId"]) == task.task_id
    ]
    assert sorted(e["args"]["operator"] for e in commit_logs) == sorted(
        n.address for n in honest_pair
    )
    # The moved node never sent a second commit; the node whose commit vanished sent exactly one
    # more, after noticing the reorg.
    assert journal_steps(moved, task.task_id).count("commit_sent") == 1
    lost_steps = journal_steps(lost, task.task_id)
    # Either the node had already seen its commit mined (the reorg erases it: "reorg") or it was
    # still waiting for the receipt (the transaction is gone: "commit_lost"); both recommit once.
    assert lost_steps.count("commit_sent") == 2
    assert "reorg" in lost_steps or "commit_lost" in lost_steps
