"""A unit of work for the worker, and what a queue of them promises."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

MAX_TASK_BYTES = 100 * 1024
TASK_NAME_HEADER = "X-Task-Name"
RETRY_COUNT_HEADER = "X-Task-Retry-Count"
# Cloud Tasks task ids: letters, digits, hyphens and underscores, at most 500 characters
_TASK_NAME = re.compile(r"[A-Za-z0-9_-]{1,480}")
QUEUE_NAME = re.compile(r"projects/[^/]+/locations/[^/]+/queues/[^/]+")
_PATH = re.compile(r"/[A-Za-z0-9._~/-]*")


@dataclass(frozen=True, slots=True)
class Task:
    """One unit of work for the worker. `name` makes it idempotent: a second enqueue of the same
    name is dropped (by Cloud Tasks for about an hour after the first ran; by the local dispatcher
    for the life of the process). The payload carries ids only, never content."""

    path: str  # the worker route, e.g. /tasks/executions/<id>
    name: str  # deterministic, e.g. exec-<execution_id>-<attempt>
    payload: dict[str, Any]
    delay_s: float = 0
    body: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _PATH.fullmatch(self.path):
            raise ValueError(f"task path must be an absolute URL path, got {self.path!r}")
        if not _TASK_NAME.fullmatch(self.name):
            raise ValueError(
                "task name must be 1-480 letters, digits, '-' or '_' (a Cloud Tasks task id), "
                f"got {self.name!r}"
            )
        if not 0 <= self.delay_s <= 30 * 86_400:
            raise ValueError(f"task delay must be between 0 and 30 days, got {self.delay_s}")
        body = json.dumps(self.payload, separators=(",", ":"), sort_keys=True).encode()
        if len(body) > MAX_TASK_BYTES:
            raise ValueError(
                f"task payload is {len(body)} bytes encoded; the limit is {MAX_TASK_BYTES} "
                "(tasks carry ids, not content)"
            )
        object.__setattr__(self, "body", body)


class TaskQueue(Protocol):
    def enqueue(self, task: Task) -> None:
        """Hand the task over without waiting for it to run. Raises `Unavailable` when the
        queue cannot take it; a duplicate name is not an error."""
        ...
