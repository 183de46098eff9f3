"""The task queue: how a request hands work (an execution, a webhook delivery) to the worker.

Two backends behind one `TaskQueue` protocol: `CloudTasksQueue` (core.tasks.cloud_tasks) when
TASKS_QUEUE is set, else `LocalDispatcher` (core.tasks.local_dispatcher: `make dev` and tests),
which POSTs the same JSON to the same worker route with the shared secret and retries like Cloud
Tasks would.

`get_task_queue(settings)` returns the process-wide backend, created on first use.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

from core.config import Settings, get_settings
from core.errors import ConfigError
from core.tasks.auth import tasks_shared_secret
from core.tasks.task import TaskQueue

if TYPE_CHECKING:
    pass

log = logging.getLogger("core.tasks")

_lock = threading.Lock()
_queue: TaskQueue | None = None
_queue_pid: int | None = None
_local_base_url: str | None = None


def get_task_queue(settings: Settings | None = None) -> TaskQueue:
    """The process's queue: Cloud Tasks when TASKS_QUEUE is set, else a `LocalDispatcher`
    POSTing to the URL given to `set_local_worker_base_url` (falling back to
    TASKS_WORKER_URL). Created on first use, again after a fork."""
    global _queue, _queue_pid
    queue = _queue
    if queue is not None and _queue_pid == os.getpid():
        return queue
    settings = settings or get_settings()
    with _lock:
        if _queue is None or _queue_pid != os.getpid():
            _queue = _build_queue(settings)
            _queue_pid = os.getpid()
        return _queue


def _build_queue(settings: Settings) -> TaskQueue:
    if settings.tasks_queue:
        from core.tasks.cloud_tasks import CloudTasksQueue

        return CloudTasksQueue(settings)
    from core.tasks.local_dispatcher import LocalDispatcher

    base_url = _local_base_url or settings.tasks_worker_url
    if not base_url:
        raise ConfigError(
            "no task queue: set TASKS_QUEUE for Cloud Tasks, or TASKS_WORKER_URL for the local "
            "dispatcher (the local server sets its own URL at start)"
        )
    return LocalDispatcher(
        base_url,
        tasks_shared_secret(settings),
        timeout_s=settings.max_execution_timeout_s + 60,
    )


def set_local_worker_base_url(url: str | None) -> None:
    """Where the local dispatcher POSTs (the local server calls this at start with its own
    http://127.0.0.1:PORT). A local dispatcher already built for another URL is replaced."""
    from core.tasks.local_dispatcher import LocalDispatcher

    global _local_base_url, _queue
    with _lock:
        _local_base_url = url.rstrip("/") if url else None
        if isinstance(_queue, LocalDispatcher) and _queue.base_url != _local_base_url:
            _queue.close()
            _queue = None


def reset_task_queue() -> None:
    """Forget the configured backend (tests change settings between cases)."""
    from core.tasks.local_dispatcher import LocalDispatcher

    global _queue
    with _lock:
        if isinstance(_queue, LocalDispatcher):
            _queue.close()
        _queue = None
