"""A task queue that only records what was enqueued (async runs without a worker)."""

from __future__ import annotations

import pytest

from core.tasks.task import Task


class RecordingQueue:
    def __init__(self) -> None:
        self.tasks: list[Task] = []

    def enqueue(self, task: Task) -> None:
        self.tasks.append(task)


@pytest.fixture
def queue() -> RecordingQueue:
    """Tasks enqueued by the test's apps are recorded, not delivered (the test delivers them):
    the `backends` fixture gives it to them."""
    return RecordingQueue()


@pytest.fixture
def worker_headers() -> dict[str, str]:
    """What the local dispatcher sends the worker routes: the shared secret."""
    from core.config import get_settings
    from core.tasks.auth import tasks_shared_secret

    return {"X-Tasks-Secret": tasks_shared_secret(get_settings())}
