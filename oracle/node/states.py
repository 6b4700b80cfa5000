"""A task's states in this node, in the order a task normally passes through them.

The node's store keeps them as text (the enum's values), so a database written before this enum
existed reads the same.
"""

from __future__ import annotations

import enum


class TaskState(enum.StrEnum):
    ASSIGNED = "assigned"
    """Drawn for the task; inference queued."""
    COMPUTED = "computed"
    """Digest and salt stored; commit not sent yet."""
    COMMIT_SENT = "commit_sent"
    """Commit transaction signed, its hash stored, sent."""
    COMMITTED = "committed"
    """Commit mined (and confirmed)."""
    REVEAL_SENT = "reveal_sent"
    REVEALED = "revealed"
    DONE = "done"
    """The task reached a final on-chain status; its outcome is recorded."""
    MISSED = "missed"
    """A window closed before our step; recorded, not retried."""
    ABANDONED = "abandoned"
    """The node's conduct chose not to act, or the task vanished from the chain."""


ACTIVE_STATES = (
    TaskState.ASSIGNED,
    TaskState.COMPUTED,
    TaskState.COMMIT_SENT,
    TaskState.COMMITTED,
    TaskState.REVEAL_SENT,
    TaskState.REVEALED,
)
FINAL_STATES = (TaskState.DONE, TaskState.MISSED, TaskState.ABANDONED)
