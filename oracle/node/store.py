"""The node's durable memory: SQLite in WAL mode.

Why durable: the salt and digest of a vote must survive a crash between the commit and the reveal,
or the operator cannot reveal and is slashed. The store is written *before* every transaction is
sent (salt, then the signed transaction's hash), so a restarted node knows exactly what it may have
put on chain and reconciles with the chain instead of guessing.

Writes that protect a vote (digest + salt, a signed transaction's hash) are fsynced before they
return (`synchronous=FULL` for that transaction); bookkeeping (journal, log cursor, states that the
chain can re-derive) uses `NORMAL`, which survives a killed process, just not a power cut.

One store belongs to one (chain id, oracle address); opening it for another raises `StoreError`.

Long module: one SQLite schema and the transactions over it, one method per transaction.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from oracle.errors import StoreError
from oracle.node.states import TaskState

SCHEMA_VERSION = 1

MAX_STORED_TASK_ID = (1 << 63) - 1
"""SQLite's largest INTEGER: an id above it cannot be stored, so reads answer "none" for it
instead of letting sqlite3 raise OverflowError (which the API would turn into a 500)."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    task_id INTEGER PRIMARY KEY,
    model_id BLOB NOT NULL,
    input BLOB NOT NULL,
    entropy BLOB NOT NULL,
    committee TEXT NOT NULL,
    member_index INTEGER NOT NULL,
    tolerance INTEGER NOT NULL,
    commit_deadline INTEGER NOT NULL,
    reveal_deadline INTEGER NOT NULL,
    fee TEXT NOT NULL,
    request_block INTEGER NOT NULL,
    request_tx TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    inference_seconds REAL,
    outcome TEXT,
    result_digest BLOB,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_state ON tasks(state);
CREATE TABLE IF NOT EXISTS votes (
    task_id INTEGER PRIMARY KEY REFERENCES tasks(task_id),
    digest BLOB NOT NULL,
    salt BLOB NOT NULL,
    commitment BLOB NOT NULL,
    invalid_input INTEGER NOT NULL,
    commit_tx TEXT,
    reveal_tx TEXT,
    resolve_tx TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS artifacts (
    task_id INTEGER PRIMARY KEY REFERENCES tasks(task_id),
    path TEXT NOT NULL,
    media_type TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    digest BLOB NOT NULL,
    fingerprint TEXT NOT NULL,
    token_ids TEXT
);
CREATE TABLE IF NOT EXISTS rejections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id INTEGER,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS seen_logs (
    tx_hash TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    block_number INTEGER NOT NULL,
    PRIMARY KEY (tx_hash, log_index)
);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id INTEGER NOT NULL,
    step TEXT NOT NULL,
    detail TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_task ON journal(task_id);
"""


def _storable(task_id: int) -> bool:
    """Whether a task id fits SQLite's signed 64-bit INTEGER (ids on chain count up from 1)."""
    return -MAX_STORED_TASK_ID - 1 <= task_id <= MAX_STORED_TASK_ID


@dataclass(frozen=True)
class TaskRecord:
    """A task this node was drawn for, as the node remembers it."""

    task_id: int
    model_id: bytes
    input: bytes
    entropy: bytes
    committee: tuple[str, ...]
    member_index: int
    tolerance: int
    commit_deadline: int
    reveal_deadline: int
    fee: int
    request_block: int
    request_tx: str
    state: TaskState
    detail: str
    inference_seconds: float | None
    outcome: str | None
    result_digest: bytes | None
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class VoteRecord:
    """What the node committed to: kept until the reveal, then kept as evidence."""

    task_id: int
    digest: bytes
    salt: bytes
    commitment: bytes
    invalid_input: bool
    commit_tx: str | None
    reveal_tx: str | None
    resolve_tx: str | None


@dataclass(frozen=True)
class ArtifactRecord:
    """Where a task's generated artifact is kept and what it hashed to."""

    task_id: int
    path: str
    media_type: str
    sha256: str
    size: int
    digest: bytes
    fingerprint: dict[str, object]
    token_ids: list[int] | None


@dataclass(frozen=True)
class Rejection:
    """A task or log the node refused to act on, with the reason (kept for the operator)."""

    id: int
    task_id: int | None
    reason: str
    at: float


@dataclass(frozen=True)
class JournalEntry:
    """One step the node took for a task (sent a commit, saw a reorg, ...)."""

    task_id: int
    step: str
    detail: str
    at: float


class Store:
    """Thread-safe access to one node's SQLite database (the API thread reads, the loop writes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open node database {str(path)!r}: {exc}") from None
        self._lock = threading.RLock()
        version = self.get_meta("schema_version")
        if version is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))
        elif int(version) != SCHEMA_VERSION:
            raise StoreError(
                f"node database {str(path)!r} has schema {version}, this node needs "
                f"{SCHEMA_VERSION}"
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction; `durable` ones are fsynced (with all earlier ones) at commit."""
        with self._lock:
            if durable:
                self._db.execute("PRAGMA synchronous=FULL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            finally:
                if durable:
                    self._db.execute("PRAGMA synchronous=NORMAL")

    def _query(self, sql: str, params: Iterable[object] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cursor = self._db.execute(sql, tuple(params))
            cursor.row_factory = sqlite3.Row
            return list(cursor.fetchall())

    # -- binding and cursor -------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0]["value"]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def bind(self, chain_id: int, oracle_address: str, operator: str) -> None:
        """Tie the database to one chain, contract and operator; refuse to mix them up."""
        wanted = {"chain_id": str(chain_id), "oracle": oracle_address, "operator": operator}
        for key, value in wanted.items():
            existing = self.get_meta(key)
            if existing is None:
                self.set_meta(key, value)
            elif existing != value:
                raise StoreError(
                    f"node database {str(self.path)!r} belongs to {key} {existing}, not {value}; "
                    "use another node.data_dir"
                )

    def log_cursor(self) -> int | None:
        """The last block whose logs were fully processed, or None on a fresh node."""
        value = self.get_meta("log_cursor")
        return int(value) if value is not None else None

    def set_log_cursor(self, block_number: int) -> None:
        self.set_meta("log_cursor", str(block_number))

    def mark_logs_seen(self, logs: Iterable[tuple[str, int, int]]) -> list[bool]:
        """For each (tx hash, log index, block), True the first time it is seen, in one commit."""
        fresh = []
        with self._transaction() as db:
            for tx_hash, log_index, block_number in logs:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO seen_logs (tx_hash, log_index, block_number) "
                    "VALUES (?, ?, ?)",
                    (tx_hash, log_index, block_number),
                )
                fresh.append(cursor.rowcount == 1)
        return fresh

    def prune_seen_logs(self, below_block: int) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM seen_logs WHERE block_number < ?", (below_block,))

    # -- tasks ------------------------------------------------------------------------------------

    def add_task(
        self,
        *,
        task_id: int,
        model_id: bytes,
        input: bytes,
        entropy: bytes,
        committee: Iterable[str],
        member_index: int,
        tolerance: int,
        commit_deadline: int,
        reveal_deadline: int,
        fee: int,
        request_block: int,
        request_tx: str,
    ) -> bool:
        """Remember a task we were drawn for; False if it was already known (idempotent)."""
        now = time.time()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO tasks (task_id, model_id, input, entropy, committee, "
                "member_index, tolerance, commit_deadline, reveal_deadline, fee, request_block, "
                "request_tx, state, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    task_id,
                    model_id,
                    input,
                    entropy,
                    json.dumps(list(committee)),
                    member_index,
                    tolerance,
                    commit_deadline,
                    reveal_deadline,
                    str(fee),
                    request_block,
                    request_tx,
                    TaskState.ASSIGNED,
                    now,
                    now,
                ),
            )
            return cursor.rowcount == 1

    @staticmethod
    def _task(row: sqlite3.Row) -> TaskRecord:
        return TaskRecord(
            task_id=row["task_id"],
            model_id=bytes(row["model_id"]),
            input=bytes(row["input"]),
            entropy=bytes(row["entropy"]),
            committee=tuple(json.loads(row["committee"])),
            member_index=row["member_index"],
            tolerance=row["tolerance"],
            commit_deadline=row["commit_deadline"],
            reveal_deadline=row["reveal_deadline"],
            fee=int(row["fee"]),
            request_block=row["request_block"],
            request_tx=row["request_tx"],
            state=TaskState(row["state"]),
            detail=row["detail"],
            inference_seconds=row["inference_seconds"],
            outcome=row["outcome"],
            result_digest=bytes(row["result_digest"]) if row["result_digest"] else None,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def get_task(self, task_id: int) -> TaskRecord | None:
        if not _storable(task_id):
            return None
        rows = self._query("SELECT * FROM tasks WHERE task_id = ?", (task_id,))
        return self._task(rows[0]) if rows else None

    def recent_tasks(self, limit: int) -> list[TaskRecord]:
        """The `limit` newest tasks (by task id), newest first."""
        rows = self._query("SELECT * FROM tasks ORDER BY task_id DESC LIMIT ?", (limit,))
        return [self._task(row) for row in rows]

    def tasks(
        self, states: Iterable[TaskState] | None = None, limit: int = 1000
    ) -> list[TaskRecord]:
        """Tasks in the given states (all when None), oldest first."""
        if states is None:
            rows = self._query("SELECT * FROM tasks ORDER BY task_id LIMIT ?", (limit,))
        else:
            wanted = list(states)
            marks = ",".join("?" for _ in wanted)
            rows = self._query(
                f"SELECT * FROM tasks WHERE state IN ({marks}) ORDER BY task_id LIMIT ?",
                (*wanted, limit),
            )
        return [self._task(row) for row in rows]

    def count_by_state(self) -> dict[str, int]:
        rows = self._query("SELECT state, COUNT(*) AS n FROM tasks GROUP BY state")
        return {str(row["state"]): int(row["n"]) for row in rows}

    def redraw(
        self, task_id: int, *, committee: Iterable[str], member_index: int, entropy: bytes
    ) -> None:
        """The request's block was replaced (a reorg) before our commit was on chain: forget the
        vote computed from the old randomness and compute again with the new draw."""
        now = time.time()
        with self._transaction(durable=True) as db:
            db.execute("DELETE FROM votes WHERE task_id = ?", (task_id,))
            db.execute("DELETE FROM artifacts WHERE task_id = ?", (task_id,))
            db.execute(
                "UPDATE tasks SET entropy = ?, committee = ?, member_index = ?, state = ?, "
                "detail = 'redrawn', updated_at = ? WHERE task_id = ?",
                (
                    entropy,
                    json.dumps(list(committee)),
                    member_index,
                    TaskState.ASSIGNED,
                    now,
                    task_id,
                ),
            )
            db.execute(
                "INSERT INTO journal (task_id, step, detail, at) VALUES (?, 'redrawn', ?, ?)",
                (task_id, "0x" + entropy.hex(), now),
            )

    def set_state(self, task_id: int, state: TaskState, detail: str = "") -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE tasks SET state = ?, detail = ?, updated_at = ? WHERE task_id = ?",
                (state, detail, time.time(), task_id),
            )
            db.execute(
                "INSERT INTO journal (task_id, step, detail, at) VALUES (?, ?, ?, ?)",
                (task_id, state, detail, time.time()),
            )

    def set_outcome(self, task_id: int, outcome: str, result_digest: bytes | None) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE tasks SET state = ?, outcome = ?, result_digest = ?, detail = '', "
                "updated_at = ? WHERE task_id = ?",
                (TaskState.DONE, outcome, result_digest, time.time(), task_id),
            )
            db.execute(
                "INSERT INTO journal (task_id, step, detail, at) VALUES (?, ?, ?, ?)",
                (task_id, TaskState.DONE, outcome, time.time()),
            )

    def journal(self, task_id: int, step: str, detail: str = "") -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO journal (task_id, step, detail, at) VALUES (?, ?, ?, ?)",
                (task_id, step, detail, time.time()),
            )

    def journal_of(self, task_id: int) -> list[JournalEntry]:
        if not _storable(task_id):
            return []
        rows = self._query(
            "SELECT task_id, step, detail, at FROM journal WHERE task_id = ? ORDER BY id",
            (task_id,),
        )
        return [JournalEntry(row["task_id"], row["step"], row["detail"], row["at"]) for row in rows]

    # -- votes --------------------------------------------------------------------------------

    def record_vote(
        self,
        task_id: int,
        *,
        digest: bytes,
        salt: bytes,
        commitment: bytes,
        invalid_input: bool,
        inference_seconds: float | None,
    ) -> None:
        """Durably store digest and salt and move the task to COMPUTED, in one transaction."""
        now = time.time()
        with self._transaction(durable=True) as db:
            db.execute(
                "INSERT OR REPLACE INTO votes (task_id, digest, salt, commitment, invalid_input, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (task_id, digest, salt, commitment, int(invalid_input), now),
            )
            db.execute(
                "UPDATE tasks SET state = ?, detail = '', inference_seconds = ?, updated_at = ? "
                "WHERE task_id = ?",
                (TaskState.COMPUTED, inference_seconds, now, task_id),
            )
            db.execute(
                "INSERT INTO journal (task_id, step, detail, at) VALUES (?, ?, ?, ?)",
                (task_id, TaskState.COMPUTED, "digest 0x" + digest.hex(), now),
            )

    def get_vote(self, task_id: int) -> VoteRecord | None:
        if not _storable(task_id):
            return None
        rows = self._query("SELECT * FROM votes WHERE task_id = ?", (task_id,))
        if not rows:
            return None
        row = rows[0]
        return VoteRecord(
            task_id=row["task_id"],
            digest=bytes(row["digest"]),
            salt=bytes(row["salt"]),
            commitment=bytes(row["commitment"]),
            invalid_input=bool(row["invalid_input"]),
            commit_tx=row["commit_tx"],
            reveal_tx=row["reveal_tx"],
            resolve_tx=row["resolve_tx"],
        )

    def record_sent(self, task_id: int, step: str, tx_hash: str) -> None:
        """Store a signed transaction's hash *before* it is broadcast; `step` is the tx kind."""
        column = {"commit": "commit_tx", "reveal": "reveal_tx", "resolve": "resolve_tx"}[step]
        state = {
            "commit": TaskState.COMMIT_SENT,
            "reveal": TaskState.REVEAL_SENT,
            "resolve": None,
        }[step]
        now = time.time()
        with self._transaction(durable=True) as db:
            db.execute(f"UPDATE votes SET {column} = ? WHERE task_id = ?", (tx_hash, task_id))
            if state is not None:
                db.execute(
                    "UPDATE tasks SET state = ?, detail = '', updated_at = ? WHERE task_id = ?",
                    (state, now, task_id),
                )
            db.execute(
                "INSERT INTO journal (task_id, step, detail, at) VALUES (?, ?, ?, ?)",
                (task_id, f"{step}_sent", tx_hash, now),
            )

    # -- artifacts and rejections -------------------------------------------------------------

    def save_artifact(self, record: ArtifactRecord) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO artifacts (task_id, path, media_type, sha256, size, "
                "digest, fingerprint, token_ids) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.task_id,
                    record.path,
                    record.media_type,
                    record.sha256,
                    record.size,
                    record.digest,
                    json.dumps(record.fingerprint, default=str),
                    json.dumps(record.token_ids) if record.token_ids is not None else None,
                ),
            )

    def get_artifact(self, task_id: int) -> ArtifactRecord | None:
        if not _storable(task_id):
            return None
        rows = self._query("SELECT * FROM artifacts WHERE task_id = ?", (task_id,))
        if not rows:
            return None
        row = rows[0]
        return ArtifactRecord(
            task_id=row["task_id"],
            path=row["path"],
            media_type=row["media_type"],
            sha256=row["sha256"],
            size=row["size"],
            digest=bytes(row["digest"]),
            fingerprint=json.loads(row["fingerprint"]),
            token_ids=json.loads(row["token_ids"]) if row["token_ids"] else None,
        )

    def add_rejection(self, task_id: int | None, reason: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO rejections (task_id, reason, at) VALUES (?, ?, ?)",
                (task_id, reason, time.time()),
            )

    def rejections(self, limit: int = 100) -> list[Rejection]:
        rows = self._query(
            "SELECT id, task_id, reason, at FROM rejections ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [Rejection(row["id"], row["task_id"], row["reason"], row["at"]) for row in rows]
