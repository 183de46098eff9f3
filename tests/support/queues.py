"""A task queue that only records what was enqueued (async runs without a worker)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from core.tasks.queue import Task, use_task_queue


class RecordingQueue:
    def __init__(self) -> None:
        self.tasks: list[Task] = []

    def enqueue(self, task: Task) -> None:
        self.tasks.append(task)


@contextlib.contextmanager
def recording_queue() -> Iterator[RecordingQueue]:
    """Every task enqueued meanwhile lands in the yielded queue."""
    recording = RecordingQueue()
    use_task_queue(recording)
    try:
        yield recording
    finally:
        use_task_queue(None)
