"""The Cloud Tasks worker: deliveries of executions and webhooks, and the sweeper.

Each delivery says how it went (`Delivery`); the tasks function answers it with Cloud Tasks
semantics: 2xx acknowledges the task, anything else makes the queue retry it (with its
backoff). A finished or vanished execution is acknowledged (duplicate delivery); one held by a
live lease, or a transient model failure, asks to be brought back later.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from core.models.executions import AgentExecution, ExecutionStatus
from core.runs import leases
from core.runs.approvals.suspending import expire_undecided
from core.runs.backends import Backends
from core.runs.engine import run_claimed
from core.runs.queueing import enqueue_execution
from core.services.delivery import Delivery

log = logging.getLogger(__name__)

# a queued execution this old has probably lost its task (enqueue failed after commit)
STALE_QUEUED_S = 60
UNEXPECTED = {"code": "internal_error", "message": "the delivery failed unexpectedly"}


def deliver_execution(execution_id: uuid.UUID, backends: Backends) -> Delivery:
    claim = backends.store.claim(execution_id)
    if claim.done:
        return Delivery("done")
    if claim.attempt is None:
        return Delivery("busy", retry_after_s=claim.busy_for_s)
    try:
        outcome = run_claimed(execution_id, claim.attempt, backends, retry_transient=True)
    except Exception:
        # a lost database connection or a bug: the queue retries it at once (the lease is
        # given up), and the attempt budget ends a run that fails like this every time
        log.exception("delivery of execution %s failed unexpectedly", execution_id)
        try:
            backends.store.release_lease(execution_id, claim.attempt)
        except Exception:  # the database is gone too: the lease runs out instead
            log.exception("could not give up the lease of execution %s", execution_id)
        return Delivery("retrying", UNEXPECTED, retry_after_s=5)
    if outcome is None:
        return Delivery("abandoned")
    if outcome.retryable:
        return Delivery("retrying", outcome.error, retry_after_s=5)
    return Delivery(outcome.status)


def deliver_webhook(execution_id: uuid.UUID, backends: Backends) -> Delivery:
    from core.models.users import User
    from core.schemas.executions import ExecutionPublic
    from core.webhooks import deliver, signing_secrets

    settings, now = backends.settings, backends.clock.now()
    with backends.unit_of_work() as db:
        execution = db.get(AgentExecution, execution_id)
        if execution is None or not execution.webhook_url:
            return Delivery("nothing to deliver")
        waiting = execution.status == ExecutionStatus.waiting_approval
        if not (execution.status.is_terminal or waiting):
            return Delivery("nothing to deliver")
        payload: dict[str, Any] = ExecutionPublic.model_validate(execution).model_dump(mode="json")
        url, status = execution.webhook_url, execution.status.value
        if waiting and execution.approval_expires_at is not None:
            # each wait is its own message (a workflow's too: a step waiting again moves its
            # expiry), so a receiver that drops repeated ids keeps them all
            status += f"_{int(execution.approval_expires_at.timestamp() * 1_000_000)}"
        user = db.get(User, execution.user_id)
        if user is None:
            return Delivery("nothing to deliver")
        secrets = signing_secrets(
            settings, user.id, user.webhook_secret_version, user.webhook_secret_rotated_at, now
        )
    # one message per state a run reports (each wait for approval, then its end): its retries
    # carry the same id
    message_id = f"msg_{execution_id.hex}_{status}"
    result = deliver(url, payload, secrets, settings, message_id=message_id)
    if result.status_code is not None and 200 <= result.status_code < 300:
        return Delivery("delivered")
    if result.retryable:
        return Delivery("retrying", result.error, retry_after_s=int(result.retry_after_s or 10))
    log.warning("webhook of %s refused for good: %s", execution_id, result.error)
    return Delivery("refused", result.error)


def sweep(backends: Backends, *, queued_after_s: float = STALE_QUEUED_S) -> dict[str, int]:
    """For Cloud Scheduler (and `make dev`'s in-process ticker): drive every run nobody drives
    to its end. Runs queued longer than `queued_after_s` (their task may be lost: an enqueue
    that failed after the commit, a local dispatcher that died with its process) and runs whose
    worker died (an expired lease) are enqueued again; those out of attempts fail; those whose
    cancel was requested end cancelled. Also forgets login failures outside the lockout window,
    expired refresh tokens and past minutes' request counts, and fires the schedules that are
    due (core.services.schedules). Enqueueing a run twice is harmless: its claim is
    conditional."""
    from core.services.auth import prune_expired_refresh_tokens, prune_login_failures
    from core.services.rate_limits import prune_request_counts

    settings = backends.settings
    now = backends.clock.now()
    counts = {"requeued": 0, "failed": 0, "cancelled": 0}
    with backends.unit_of_work() as db:
        counts["login_failures_pruned"] = prune_login_failures(db, settings=settings, now=now)
        counts["refresh_tokens_pruned"] = prune_expired_refresh_tokens(db, now=now)
        counts["request_counts_pruned"] = prune_request_counts(db, now=now)
    with backends.unit_of_work() as db:
        stale = db.execute(
            select(
                AgentExecution.id,
                AgentExecution.attempt - AgentExecution.attempt_base,
                AgentExecution.cancel_requested_at.is_not(None),
            )
            .where(
                (
                    (AgentExecution.status == ExecutionStatus.queued)
                    & (AgentExecution.created_at <= now - timedelta(seconds=queued_after_s))
                )
                | (
                    (AgentExecution.status == ExecutionStatus.running)
                    & (AgentExecution.lease_expires_at < now)
                ),
            )
            .order_by(AgentExecution.created_at)
            .limit(500)
        ).all()
    from core.services.schedules import fire_due

    counts.update(fire_due(backends))
    counts["approvals_expired"] = expire_undecided(backends)
    from core.services.knowledge_ingestion import sweep_ingestions

    counts["ingestions_requeued"] = sweep_ingestions(backends)
    from core.runs.queueing import enqueue_eval
    from core.services.evals import stalled_evals

    with backends.unit_of_work() as db:
        # the first sweep of a process drives every unfinished eval (a local queue's tasks
        # died with the process before), later ones those undriven for EVAL_STALL_S
        idle_s = settings.eval_stall_s if queued_after_s else 0.0
        stalled = stalled_evals(db, now, idle_s)
    for eval_id in stalled:
        enqueue_eval(backends, eval_id)
    counts["evals_driven"] = len(stalled)
    for execution_id, attempts, cancel_requested in stale:
        if cancel_requested:
            with backends.unit_of_work() as db:
                counts["cancelled"] += leases.end_cancelled(db, execution_id, now)
            continue
        if attempts >= settings.execution_max_attempts:
            with backends.unit_of_work() as db:
                leases.fail_exhausted(db, execution_id, attempts, settings, now)
            counts["failed"] += 1
            continue
        # a new name: the original task's name stays reserved after it ran
        enqueue_execution(backends, execution_id, attempts + 1, suffix=f"s{int(now.timestamp())}")
        counts["requeued"] += 1
    return counts
