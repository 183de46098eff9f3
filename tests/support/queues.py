"""A task queue that only records what was enqueued (async runs without a worker)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from core.tasks.queue import use_task_queue
from core.tasks.task import Task


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


@pytest.fixture
def queue() -> Iterator[RecordingQueue]:
    """Tasks enqueued during the test are recorded, not delivered (the test delivers them)."""
    with recording_queue() as recording:
        yield recording


@pytest.fixture
def worker_headers() -> dict[str, str]:
    """What the local dispatcher sends the worker routes: the shared secret."""
    from core.config import get_settings
    from core.tasks.auth import tasks_shared_secret

    return {"X-Tasks-Secret": tasks_shared_secret(get_settings())}
