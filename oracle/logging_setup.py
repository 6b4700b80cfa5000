"""How the long-running commands (`node run`, `gateway run`) write their logs: readable text, or
one JSON object per line for log collectors (`--log-format json`).

A JSON line holds `time` (UTC, ISO 8601 with milliseconds), `level`, `logger`, `message`, and
`task_id` where the line is about a task: a record's `task_id` attribute (`extra=`), else the
`task N:` that starts the node's messages about a task. A logged exception adds `exception`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_LIBRARIES = ("urllib3", "web3", "httpx", "filelock")
"""Libraries whose INFO and DEBUG lines would drown the node's own."""

_TASK_PREFIX = re.compile(r"^task (\d+)\b")


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
