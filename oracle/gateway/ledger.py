"""The gateway's ledger (SQLite): every request a key made, what it reserved and what it cost.

The per-key limits are read from it, so they hold across restarts: a request is recorded as
`pending` with the most it may cost (fee + reserved gas) before its transaction is sent, counted
against its key's limits from that moment, and replaced by its real cost once mined (or removed
if nothing was sent). Checking the limits and recording the reservation happen under one lock,
so concurrent requests of one key cannot together pass a limit that each alone respects.

One ledger belongs to one (chain id, oracle, paying account); opening it for another raises
`StoreError`, as the node's store does.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from oracle.errors import StoreError

RATE_WINDOW_S = 60.0
SPEND_WINDOW_S = 86_400.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key_name TEXT NOT NULL,
    at REAL NOT NULL,
    cost_wei TEXT NOT NULL,
    state TEXT NOT NULL,
    model_id TEXT NOT NULL,
    task_id INTEGER,
    tx_hash TEXT
);
CREATE INDEX IF NOT EXISTS requests_by_key ON requests (key_name, at);
CREATE UNIQUE INDEX IF NOT EXISTS requests_by_task ON requests (task_id);
"""


@dataclass(frozen=True)
class Usage:
    """A key's use of its limits now."""

    tasks_last_minute: int
    spent_last_day_wei: int
    oldest_in_minute_at: float | None
    """When the oldest request of the last minute was made (its slot frees 60 s later)."""


@dataclass(frozen=True)
class LedgerTask:
    task_id: int
    model_id: str
    at: float
    cost_wei: int
    tx_hash: str


class Ledger:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def bind(self, chain_id: int, oracle: str, account: str) -> None:
        """Tie the ledger to one deployment and paying account, or refuse another's."""
        wanted = {"chain_id": str(chain_id), "oracle": oracle, "account": account}
        with self._transaction() as db:
            for key, value in wanted.items():
                row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
                if row is None:
                    db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
                elif row["value"] != value:
                    raise StoreError(
                        f"gateway ledger {str(self.path)!r} belongs to {key} {row['value']}, "
                        f"not {value}; give this gateway its own gateway.data_dir"
                    )

    def usage(self, key_name: str, now: float | None = None) -> Usage:
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT at, cost_wei FROM requests WHERE key_name = ? AND at > ? ORDER BY at",
                (key_name, now - SPEND_WINDOW_S),
            ).fetchall()
        recent = [row["at"] for row in rows if row["at"] > now - RATE_WINDOW_S]
        return Usage(
            tasks_last_minute=len(recent),
            spent_last_day_wei=sum(int(row["cost_wei"]) for row in rows),
            oldest_in_minute_at=recent[0] if recent else None,
        )

    def pending_wei(self) -> int:
        """What requests in flight (all keys) may still cost the gateway's account (a request
        left pending by a crash stops counting here after an hour, still counts for its key)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT cost_wei FROM requests WHERE state = 'pending' AND at > ?",
                (time.time() - 3600,),
            ).fetchall()
        return sum(int(row["cost_wei"]) for row in rows)

    @contextmanager
    def checking(self) -> Iterator[None]:
        """Hold the ledger while limits are checked and a reservation is made."""
        with self._lock:
            yield

    def reserve(self, key_name: str, model_id: str, cost_wei: int) -> int:
        """Record a request about to be sent, at its most; returns its reservation id."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO requests (key_name, at, cost_wei, state, model_id) "
                "VALUES (?, ?, ?, 'pending', ?)",
                (key_name, time.time(), str(cost_wei), model_id),
            )
            assert cursor.lastrowid is not None
            return int(cursor.lastrowid)

    def settle(self, reservation: int, task_id: int, tx_hash: str, cost_wei: int) -> None:
        """The request is on chain: its task id and its real cost."""
        with self._transaction() as db:
            db.execute(
                "UPDATE requests SET state = 'submitted', task_id = ?, tx_hash = ?, cost_wei = ? "
                "WHERE id = ?",
                (task_id, tx_hash, str(cost_wei), reservation),
            )

    def release(self, reservation: int) -> None:
        """Nothing was spent (the request was refused before it was mined)."""
        with self._transaction() as db:
            db.execute("DELETE FROM requests WHERE id = ? AND state = 'pending'", (reservation,))

    def task(self, key_name: str, task_id: int) -> LedgerTask | None:
        """The task if this key submitted it."""
        if not 0 < task_id < 1 << 63:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM requests WHERE key_name = ? AND task_id = ?", (key_name, task_id)
            ).fetchone()
        return _task(row) if row is not None else None

    def tasks(self, key_name: str, limit: int) -> list[LedgerTask]:
        """This key's tasks, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM requests WHERE key_name = ? AND state = 'submitted' "
                "ORDER BY id DESC LIMIT ?",
                (key_name, limit),
            ).fetchall()
        return [_task(row) for row in rows]


def _task(row: sqlite3.Row) -> LedgerTask:
    return LedgerTask(
        task_id=int(row["task_id"]),
        model_id=str(row["model_id"]),
        at=float(row["at"]),
        cost_wei=int(row["cost_wei"]),
        tx_hash=str(row["tx_hash"]),
    )
