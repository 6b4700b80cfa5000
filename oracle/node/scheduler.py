"""When each task is looked at next: due times on this machine's clock, and the chain times
(commit deadline, then reveal deadline) whose passing changes a task's phase without an event."""

from __future__ import annotations

import time

from oracle.node.states import ACTIVE_STATES
from oracle.node.store import Store


class Scheduler:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._due: dict[int, float] = {}  # task -> monotonic time of its next look
        self._deadlines: dict[int, int] = {}  # task -> next chain timestamp to wake it at

    def schedule(self, task_id: int, delay: float = 0.0) -> None:
        """Look at the task after `delay` seconds, unless an earlier look is already due."""
        due = time.monotonic() + delay
        current = self._due.get(task_id)
        if current is None or due < current or current <= time.monotonic():
            self._due[task_id] = due

    def wake(self, task_id: int) -> None:
        """Look at the task now, whatever was planned."""
        self._due[task_id] = time.monotonic()

    def is_scheduled(self, task_id: int) -> bool:
        return task_id in self._due

    def unschedule(self, task_id: int) -> None:
        self._due.pop(task_id, None)

    def due(self) -> list[int]:
        """The tasks whose look is due now, by task id."""
        now = time.monotonic()
        return sorted(task_id for task_id, when in self._due.items() if when <= now)

    def watch_deadline(self, task_id: int, timestamp: int) -> None:
        """Wake the task once the chain's time passes `timestamp` (its commit deadline)."""
        self._deadlines[task_id] = timestamp

    def forget(self, task_id: int) -> None:
        """The task is final: nothing wakes it any more."""
        self._due.pop(task_id, None)
        self._deadlines.pop(task_id, None)

    def wake_on_chain_time(self, head_timestamp: int) -> None:
        """Wake each task whose watched deadline the head block's time has passed, then watch
        its reveal deadline (after the commit deadline) or nothing more."""
        for task_id, deadline in list(self._deadlines.items()):
            if head_timestamp <= deadline:
                continue
            task = self._store.get_task(task_id)
            if task is None or task.state not in ACTIVE_STATES:
                del self._deadlines[task_id]
                continue
            self.schedule(task_id)
            if deadline < task.reveal_deadline:
                self._deadlines[task_id] = task.reveal_deadline
            else:
                del self._deadlines[task_id]

    def wake_all_active(self) -> None:
        """After a reorg, which can erase our transactions: look at every unfinished task."""
        for record in self._store.tasks(ACTIVE_STATES):
            self.schedule(record.task_id)
