"""Handing work to the task queue: an execution to run (or resume), a webhook to deliver, a
knowledge-base document to ingest, a turn to draw memories from, an eval run to drive. A task
that cannot be enqueued after its row committed is found again by the sweeper (executions,
documents, evals) or is lost without failing what it follows (webhooks, memories)."""

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


def enqueue_ingestion(backends: Backends, document_id: uuid.UUID) -> None:
    """A knowledge-base document to read, chunk and embed (its status says queued)."""
    try:
        backends.queue.enqueue(
            Task(
                path=f"/tasks/ingest/{document_id}",
                # a new name each time: a document is queued again when its embedder changes
                name=f"ingest-{document_id}-{uuid.uuid4().hex[:8]}",
                payload={"document_id": str(document_id)},
            )
        )
    except Exception:  # the sweeper hands out again what has been queued over a minute
        log.exception("could not enqueue the ingestion of document %s", document_id)


EVAL_WAKE_S = 0.1  # cases of an eval that end within one such slot wake its driver once


def enqueue_eval(backends: Backends, eval_id: uuid.UUID, *, after_case: bool = False) -> None:
    """The eval run's driver (core.evals.driver): to start it, or after one of its cases ended.
    Ends are gathered: every end within one EVAL_WAKE_S slot names the same task, which runs
    when the slot is over (a second enqueue of a name is dropped), so it sees them all and one
    delivery scores them and starts their successors."""
    name, delay = f"eval-{eval_id}-{uuid.uuid4()}", 0.0
    if after_case:
        now = backends.clock.now().timestamp()
        slot = int(now / EVAL_WAKE_S) + 1
        name, delay = f"eval-{eval_id}-at-{slot}", max(0.0, slot * EVAL_WAKE_S - now)
    try:
        backends.queue.enqueue(
            Task(
                path=f"/tasks/evals/{eval_id}",
                name=name,
                payload={"eval_id": str(eval_id)},
                delay_s=delay,
            )
        )
    except Exception:  # the sweeper drives an eval nobody drove for a while
        log.exception("could not enqueue the driver of eval %s", eval_id)
