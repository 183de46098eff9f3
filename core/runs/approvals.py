"""Tool calls that wait for a person: how a run stops for them, how decisions reach the resumed
run exactly once, and how an undecided wait ends.

A run whose model calls a tool that requires approval ends its delivery with pydantic-ai's
DeferredToolRequests: the execution is saved `waiting_approval` with its pending calls, its lease
given up, events `approval_requested` written and its webhook queued. A decision
(core.services.approvals) stores the decisions, sets it `queued` and enqueues it; the delivery
that claims it resumes from the saved messages with DeferredToolResults. Once the decided calls'
results are saved in the messages, the decisions are spent: a redelivery after a crash resumes
from the messages and never applies (runs) them again."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased

from core.models.executions import AgentExecution, ExecutionStatus
from core.models.sessions import EventType
from core.runs.backends import Backends
from core.runs.events import EventLog, request_events
from core.runs.leases import Fence
from core.runs.queueing import enqueue_execution, enqueue_webhook

if TYPE_CHECKING:
    from pydantic_ai import DeferredToolResults
    from pydantic_ai.messages import ModelMessage

    from core.agents.runner import RunOutcome

log = logging.getLogger(__name__)

APPROVAL_EXPIRED = {
    "code": "approval_expired",
    "message": "nobody decided on the pending tool calls in time",
}


def unanswered_calls(messages: list[ModelMessage]) -> set[str]:
    """The ids of tool calls in `messages` that no tool result (or retry) answers yet."""
    from pydantic_ai.messages import ModelResponse, RetryPromptPart, ToolCallPart, ToolReturnPart

    called: set[str] = set()
    answered: set[str] = set()
    for message in messages:
        for part in message.parts:
            if isinstance(message, ModelResponse) and isinstance(part, ToolCallPart):
                called.add(part.tool_call_id)
            elif isinstance(part, ToolReturnPart | RetryPromptPart) and part.tool_call_id:
                answered.add(part.tool_call_id)
    return called - answered


def deferred_results(
    decisions: dict[str, Any] | None, saved: list[ModelMessage]
) -> DeferredToolResults | None:
    """The decisions as pydantic-ai resumes with them, while the calls they decide are still
    unanswered in the saved messages; None once they are spent (or there are none)."""
    if not decisions:
        return None
    waiting = unanswered_calls(saved)
    if not waiting or not set(decisions) <= waiting:
        return None
    from pydantic_ai import DeferredToolResults, ToolDenied

    return DeferredToolResults(
        approvals={
            call_id: (
                True
                if decision["approved"]
                else ToolDenied(
                    "A person denied this call"
                    + (f": {decision['reason']}" if decision.get("reason") else ".")
                )
            )
            for call_id, decision in decisions.items()
        }
    )


def suspend(
    backends: Backends,
    fence: Fence,
    events: EventLog,
    outcome: RunOutcome,
    *,
    webhook_url: str | None,
) -> None:
    """Save the run `waiting_approval` (fenced), without a lease: nothing runs it until a
    decision or the expiry. Then queue its webhook, if any."""
    from pydantic_ai.messages import ModelMessagesTypeAdapter, ModelRequest

    now = backends.clock.now()
    expires_at = now + timedelta(seconds=backends.settings.approval_ttl_s)
    pending = [
        {**call, "requested_at": now.isoformat(), "expires_at": expires_at.isoformat()}
        for call in outcome.pending_approvals or []
    ]
    batch = list(outcome.pending_events)
    tail = outcome.messages[-1] if outcome.messages else None
    if isinstance(tail, ModelRequest):  # results of the calls that needed no approval
        batch += request_events(tail)
    batch += [(EventType.approval_requested, call) for call in pending]
    batch.append((EventType.status, {"status": ExecutionStatus.waiting_approval.value}))
    backends.store.finish(
        fence,
        events,
        batch,
        {
            "status": ExecutionStatus.waiting_approval,
            "pending_approvals": pending,
            "approval_decisions": None,
            "approval_expires_at": expires_at,
            "waiting_since": now,
            "lease_expires_at": None,
            "messages": ModelMessagesTypeAdapter.dump_python(outcome.messages, mode="json"),
            **outcome.usage.columns(),
        },
        trace=None,
        written=[],
    )
    outcome.pending_approvals = pending
    if webhook_url:
        enqueue_webhook(backends, fence.execution_id, suffix=f"approval-{fence.attempt}")


def expire_waiting(db: Session, now: datetime) -> list[uuid.UUID]:
    """End every run whose approvals nobody decided in time `cancelled` (approval_expired).
    One conditional UPDATE per run: of concurrent sweepers, one writes each run's events."""
    expired = db.execute(
        update(AgentExecution)
        .where(
            AgentExecution.status == ExecutionStatus.waiting_approval,
            AgentExecution.approval_expires_at < now,
        )
        .values(
            status=ExecutionStatus.cancelled,
            error=APPROVAL_EXPIRED,
            finished_at=now,
            updated_at=now,
        )
        .returning(AgentExecution.id, AgentExecution.session_id)
    ).all()
    from core.runs.tree import cancel_descendants

    for execution_id, session_id in expired:
        EventLog(execution_id=execution_id, session_id=session_id).add(
            db,
            [(EventType.error, APPROVAL_EXPIRED), (EventType.status, {"status": "cancelled"})],
        )
        cancel_descendants(db, execution_id, now)  # a workflow's waiting steps end with it
    return [execution_id for execution_id, _ in expired]


def pending_approvals_of(
    db: Session | Connection, execution_ids: list[uuid.UUID]
) -> list[dict[str, Any]]:
    rows = db.execute(
        select(AgentExecution.id, AgentExecution.pending_approvals)
        .where(
            AgentExecution.id.in_(execution_ids),
            AgentExecution.status == ExecutionStatus.waiting_approval,
        )
        .order_by(AgentExecution.step_index)
    ).all()
    return [
        {
            "execution_id": str(execution_id),
            **{k: v for k, v in call.items() if k not in ("requested_at", "expires_at")},
        }
        for execution_id, calls in rows
        for call in calls or []
    ]


def wake_parent_row(
    db: Session, child_id: uuid.UUID, now: datetime
) -> tuple[uuid.UUID, int] | None:
    """Queue the workflow waiting on `child_id` again once none of its steps waits any more:
    one conditional UPDATE, so of two steps finishing at once exactly one wakes it."""
    parent, sibling = aliased(AgentExecution), aliased(AgentExecution)
    child_parent = (
        select(AgentExecution.parent_execution_id)
        .where(AgentExecution.id == child_id)
        .scalar_subquery()
    )
    row = db.execute(
        update(parent)
        .where(
            parent.id == child_parent,
            parent.status == ExecutionStatus.waiting_approval,
            ~exists().where(
                and_(
                    sibling.parent_execution_id == parent.id,
                    sibling.status == ExecutionStatus.waiting_approval,
                )
            ),
        )
        .values(
            status=ExecutionStatus.queued,
            pending_approvals=None,
            approval_expires_at=None,
            approval_wait_s=parent.approval_wait_s
            + func.coalesce(func.extract("epoch", now - parent.waiting_since), 0),
            waiting_since=None,
            attempt_base=parent.attempt,
            updated_at=now,
        )
        .returning(parent.id, parent.attempt, parent.session_id)
    ).first()
    if row is None:
        return None
    EventLog(execution_id=row.id, session_id=row.session_id).add(
        db, [(EventType.status, {"status": ExecutionStatus.queued.value})]
    )
    return row.id, row.attempt


def wake_parent(backends: Backends, child_id: uuid.UUID) -> None:
    woken = backends.store.wake_parent(child_id)
    if woken is not None:
        parent_id, attempt = woken
        enqueue_execution(backends, parent_id, attempt + 1, suffix="woken")


def webhooks_of(db: Session, execution_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    if not execution_ids:
        return []
    return list(
        db.scalars(
            select(AgentExecution.id).where(
                AgentExecution.id.in_(execution_ids), AgentExecution.webhook_url.is_not(None)
            )
        )
    )
