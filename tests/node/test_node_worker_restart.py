"""A killed inference worker is replaced, with real node processes against a real Anvil.

The node's inference runs in a worker process. Killing it (kill -9, as the OOM killer would)
while the node starts, or later while it has work, must not take the node down: the node starts a
fresh worker (with a backoff), keeps its loop and API running meanwhile, and still commits and
reveals its vote. Before, a death while the models loaded made the node exit for good.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from oracle_testlib import IMAGE_INPUT, IMAGE_MODEL

from oracle.dev.localnet import NodeProcess, OracleChain, oracle_chain, stop_nodes, wait_until
from oracle.node.store import Store


@pytest.fixture(scope="module")
def net() -> Iterator[OracleChain]:
    with oracle_chain((IMAGE_MODEL,), operators=3) as chain:
        yield chain


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return children


def _worker_pid(node: NodeProcess) -> int | None:
    """The node's inference worker: its spawned child (not multiprocessing's resource tracker)."""
    assert node.process is not None
    for child in _children(node.process.pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"spawn_main" in cmdline and state != "Z":
            return child
    return None


def _new_worker(node: NodeProcess, not_pid: int | None, timeout: float = 60) -> int:
    found: list[int] = []

    def appeared() -> bool:
        assert node.process is not None and node.process.poll() is None, node.log()
        pid = _worker_pid(node)
        if pid is not None and pid != not_pid:
            found.append(pid)
            return True
        return False

    wait_until(appeared, timeout, "a (fresh) inference worker process")
    return found[-1]


def _answers(node: NodeProcess) -> bool:
    try:
        httpx.get(f"{node.api_url}/health", timeout=1)
    except httpx.HTTPError:
        return False
    return True


def _restarts(node: NodeProcess) -> int:
    text = node.get("/metrics").text
    match = re.search(r"^genoracle_worker_restarts_total (\S+)$", text, re.MULTILINE)
    assert match is not None, text
    return int(float(match.group(1)))


@pytest.mark.slow  # kills and restarts model workers, 40 s
def test_a_killed_worker_is_restarted_during_startup_and_while_it_has_work(
    net: OracleChain, tmp_path: Path
) -> None:
    victim = NodeProcess(net, net.operators[0], tmp_path / "victim", models=(IMAGE_MODEL,))
    peers = [
        NodeProcess(net, account, tmp_path / f"peer{i}", models=(IMAGE_MODEL,))
        for i, account in enumerate(net.operators[1:])
    ]
    try:
        victim.start()
        for peer in peers:
            peer.start()
        # Startup: the worker dies while it loads the models, twice; the node must not exit.
        first = _new_worker(victim, None)
        assert not _answers(victim), "the node reported ready before its models were loaded"
        os.kill(first, signal.SIGKILL)
        second = _new_worker(victim, first)
        assert not _answers(victim), "the node reported ready before its models were loaded"
        os.kill(second, signal.SIGKILL)
        victim.wait_ready()
        for peer in peers:
            peer.wait_ready()
        assert victim.process is not None and victim.process.poll() is None
        assert _restarts(victim) == 2

        # Later, with work: the worker is frozen, so the task's inference is certainly still
        # outstanding when it is killed.
        worker = _new_worker(victim, second)
        os.kill(worker, signal.SIGSTOP)
        client = net.requester_client()
        task = client.submit(IMAGE_MODEL, IMAGE_INPUT)  # 3 of 3 operators: all drawn
        wait_until(
            lambda: (victim.local_task(task.task_id) or {}).get("state") == "assigned",
            30,
            "the victim to take the task on",
        )
        time.sleep(0.5)  # the job is handed to the (frozen) worker or waits for it
        os.kill(worker, signal.SIGKILL)
        # The loop and the API stay up while a fresh worker loads the models.
        assert victim.get("/health").status_code == 200
        result = client.wait(task.task_id, timeout_s=120)
        assert victim.process.poll() is None
        assert _restarts(victim) == 3
    finally:
        stop_nodes([victim, *peers])
    assert result.status == "resolved" and result.support == 3, result
    vote = next(v for v in result.votes if v.operator == victim.address)
    assert vote.revealed and vote.agrees
    credited = sum(p.credited_wei for p in result.payouts if p.account == victim.address)
    slashed = sum(p.slashed_wei for p in result.payouts if p.account == victim.address)
    assert credited > 0 and slashed == 0
    store = Store(victim.data_dir / "node.sqlite3")
    try:
        steps = [entry.step for entry in store.journal_of(task.task_id)]
    finally:
        store.close()
    assert "worker_restart" in steps, steps  # the death was noticed while the task waited
    assert "done" in steps and "missed" not in steps, steps
