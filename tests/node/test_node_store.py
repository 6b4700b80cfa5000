"""The node's store: durable votes, idempotent task records, log dedupe, binding to one chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from oracle.errors import StoreError
from oracle.node.states import TaskState
from oracle.node.store import Store


def add(store: Store, task_id: int) -> bool:
    return store.add_task(
        task_id=task_id,
        model_id=b"\x01" * 32,
        input=b"{}",
        entropy=b"\x02" * 32,
        committee=["0xA", "0xB", "0xC"],
        member_index=1,
        tolerance=0x0A000000,
        commit_deadline=100,
        reveal_deadline=200,
        fee=3 * 10**15,
        request_block=7,
        request_tx="0xabc",
    )


def test_vote_and_sent_hash_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite3"
    store = Store(path)
    assert add(store, 5) and not add(store, 5)  # idempotent on re-read logs
    assert store.get_task(5).state == TaskState.ASSIGNED  # type: ignore[union-attr]
    store.record_vote(
        5,
        digest=b"\x03" * 32,
        salt=b"\x04" * 32,
        commitment=b"\x05" * 32,
        invalid_input=False,
        inference_seconds=0.25,
    )
    store.record_sent(5, "commit", "0xfeed")
    store.close()  # as if the process died here

    reopened = Store(path)
    task = reopened.get_task(5)
    vote = reopened.get_vote(5)
    assert (
        task is not None and task.state == TaskState.COMMIT_SENT and task.inference_seconds == 0.25
    )
    assert vote is not None and vote.salt == b"\x04" * 32 and vote.commit_tx == "0xfeed"
    assert [e.step for e in reopened.journal_of(5)] == ["computed", "commit_sent"]
    reopened.set_outcome(5, "resolved", b"\x03" * 32)
    assert reopened.get_task(5).state == TaskState.DONE  # type: ignore[union-attr]
    assert reopened.count_by_state() == {TaskState.DONE: 1}


def test_logs_are_deduplicated_by_transaction_and_index(tmp_path: Path) -> None:
    store = Store(tmp_path / "node.sqlite3")
    assert store.mark_logs_seen([("0x1", 0, 10), ("0x1", 1, 10)]) == [True, True]
    assert store.mark_logs_seen([("0x1", 1, 10), ("0x2", 0, 11)]) == [False, True]
    store.set_log_cursor(11)
    assert store.log_cursor() == 11


def test_store_refuses_another_chain_or_operator(tmp_path: Path) -> None:
    store = Store(tmp_path / "node.sqlite3")
    store.bind(31337, "0xOracle", "0xOperator")
    store.bind(31337, "0xOracle", "0xOperator")
    with pytest.raises(StoreError, match="belongs to chain_id 31337, not 1"):
        store.bind(1, "0xOracle", "0xOperator")
    with pytest.raises(StoreError, match="belongs to operator 0xOperator"):
        store.bind(31337, "0xOracle", "0xSomeoneElse")


def test_corrupt_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open node database"):
        Store(path)
