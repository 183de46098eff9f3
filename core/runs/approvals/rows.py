"""The rows of runs waiting for approvals, as the store and the sweeper change them: what they
wait on, waking the workflow a step held up, and ending the waits nobody decided in time."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased

from core.models.executions import AgentExecution, ExecutionStatus
from core.models.sessions import EventType
from core.runs.events import EventLog

APPROVAL_EXPIRED = {
    "code": "approval_expired",
    "message": "nobody decided on the pending tool calls in time",
}


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


def rewait_parent_row(
    db: Session,
    child_id: uuid.UUID,
    calls: list[dict[str, Any]],
    expires_at: datetime,
    now: datetime,
) -> tuple[uuid.UUID, str | None] | None:
    """A step its workflow already waits on asks for approvals again (it resumed after a
    decision and reached another call): the workflow lists the new calls (each naming the
    step), waits until the step's request expires at the earliest, and logs them. Returns the
    workflow's id and webhook URL; None when no workflow waits on it."""
    parent = aliased(AgentExecution)
    child_parent = (
        select(AgentExecution.parent_execution_id)
        .where(AgentExecution.id == child_id)
        .scalar_subquery()
    )
    listed = [{"execution_id": str(child_id), **call} for call in calls]
    row = db.execute(
        update(parent)
        .where(parent.id == child_parent, parent.status == ExecutionStatus.waiting_approval)
        .values(
            pending_approvals=func.coalesce(parent.pending_approvals, literal([], JSONB)).op("||")(
                literal(listed, JSONB)
            ),
            approval_expires_at=func.greatest(
                func.coalesce(parent.approval_expires_at, expires_at), expires_at
            ),
            updated_at=now,
        )
        .returning(parent.id, parent.session_id, parent.webhook_url)
    ).first()
    if row is None:
        return None
    EventLog(execution_id=row.id, session_id=row.session_id).add(
        db, [(EventType.approval_requested, call) for call in listed]
    )
    return row.id, row.webhook_url


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
