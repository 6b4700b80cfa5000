"""How the long-running commands (`node run`, `gateway run`) write their logs: readable text, or
one JSON object per line for log collectors (`--log-format json`).

The inference worker process (oracle/node/worker.py) is spawned, so it inherits none of this:
its first job calls `configure_worker_logging` with the node's `current_logging()`, and in JSON
the lines its libraries print themselves (progress bars, print) become records too.

A JSON line holds `time` (UTC, ISO 8601 with milliseconds), `level`, `logger`, `message`, and
`task_id` where the line is about a task: a record's `task_id` attribute (`extra=`), else the
`task N:` that starts the node's messages about a task. A logged exception adds `exception`.
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from typing import Any, TextIO

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_LIBRARIES = ("urllib3", "web3", "httpx", "filelock")
"""Libraries whose INFO and DEBUG lines would drown the node's own."""

_TASK_PREFIX = re.compile(r"^task (\d+)\b")
_CURRENT: list[tuple[str, str]] = []  # (level, format) of the last configure_logging call


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside strings are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        task_id = task_id_of(record, message)
        if task_id is not None:
            entry["task_id"] = task_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def task_id_of(record: logging.LogRecord, message: str) -> int | None:
    """The task a record is about, where known."""
    explicit = getattr(record, "task_id", None)
    if explicit is not None:
        try:
            return int(explicit)
        except (TypeError, ValueError):
            return None
    match = _TASK_PREFIX.match(message)
    return int(match.group(1)) if match else None


def configure_logging(level: str, log_format: str, stream: TextIO | None = None) -> None:
    """Send every logger's records (uvicorn's included: start it with `log_config=None`) through
    one handler on stderr, in `log_format` ('text' or 'json'), at `level` and above."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r} is not one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    formatter = JsonLineFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in QUIET_LIBRARIES:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.captureWarnings(True)  # warnings.warn(...) from libraries: a record, not a raw line
    _CURRENT[:] = [(level, log_format)]


def current_logging() -> tuple[str, str] | None:
    """(level, format) as this process configured them, None if it never did: what a spawned
    child needs to log the same way."""
    return _CURRENT[0] if _CURRENT else None


def configure_worker_logging(level: str, log_format: str) -> None:
    """In a spawned child (the inference worker): log as the parent does, on the stderr both
    share. In JSON, what the child's libraries write to sys.stdout or sys.stderr themselves
    (a progress bar, a print) is logged line by line as well (a progress bar's carriage-return
    updates count as one line: its last state), so every Python-level line is JSON. Bytes
    written below Python (a C library's own stderr, a crash dump) stay as they are."""
    stderr = sys.stderr
    configure_logging(level, log_format, stderr)
    if log_format == "json":
        sys.stdout = _LinesToLog(logging.getLogger("genoracle.worker.stdout"), logging.INFO, stderr)
        sys.stderr = _LinesToLog(
            logging.getLogger("genoracle.worker.stderr"), logging.WARNING, stderr
        )


class _LinesToLog(io.TextIOBase):
    """A text stream whose every complete line becomes a log record (empty lines dropped).
    Reentrant writes (a failing handler reporting its own error) go to `fallback` unchanged."""

    def __init__(self, logger: logging.Logger, level: int, fallback: TextIO) -> None:
        super().__init__()
        self._logger = logger
        self._level = level
        self._fallback = fallback
        self._line = ""
        self._lock = threading.RLock()
        self._inside = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if getattr(self._inside, "active", False):
            return self._fallback.write(text)
        with self._lock:
            self._inside.active = True
            try:
                for piece in re.split(r"(\r|\n)", text):
                    if piece == "\n":
                        self._emit()
                    elif piece == "\r":
                        self._line = ""  # a terminal would overwrite the line: keep its last state
                    else:
                        self._line += piece
            finally:
                self._inside.active = False
        return len(text)

    def flush(self) -> None:
        """Nothing: a partial line (a progress bar between updates) waits for its end."""

    def close(self) -> None:
        with self._lock:
            self._emit()
        super().close()

    def _emit(self) -> None:
        line, self._line = self._line.rstrip(), ""
        if line:
            self._logger.log(self._level, "%s", line)
