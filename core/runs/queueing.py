"""Handing work to the task queue: an execution to run (or resume), a webhook to deliver."""

from __future__ import annotations

import logging
import uuid

from core.runs.backends import Backends
from core.tasks.task import Task

log = logging.getLogger(__name__)


def enqueue_execution(
    backends: Backends, execution_id: uuid.UUID, attempt: int, *, suffix: str = ""
) -> None:
    backends.queue.enqueue(
        Task(
            path=f"/tasks/executions/{execution_id}",
            name=f"exec-{execution_id}-{attempt}" + (f"-{suffix}" if suffix else ""),
            payload={"execution_id": str(execution_id)},
        )
    )


def enqueue_webhook(backends: Backends, execution_id: uuid.UUID, *, suffix: str = "") -> None:
    try:
        backends.queue.enqueue(
            Task(
                path=f"/tasks/webhooks/{execution_id}",
                name=f"hook-{execution_id}" + (f"-{suffix}" if suffix else ""),
                payload={"execution_id": str(execution_id)},
            )
        )
    except Exception:  # the run is recorded; a lost webhook must not fail it
        log.exception("could not enqueue the webhook of execution %s", execution_id)


def enqueue_memory_extraction(backends: Backends, execution_id: uuid.UUID) -> None:
    """After a session turn of an agent whose memory extracts: its facts, in the background."""
    try:
        backends.queue.enqueue(
            Task(
                path=f"/tasks/memories/{execution_id}",
                name=f"memories-{execution_id}",
                payload={"execution_id": str(execution_id)},
            )
        )
    except Exception:  # the turn is recorded; a lost extraction must not fail it
        log.exception("could not enqueue the memory extraction of execution %s", execution_id)
