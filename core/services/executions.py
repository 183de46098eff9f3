"""Executions: start a run of an agent (core.runs.starting), cancel one, and read runs and
their events back (also as a live stream).

Every way a run can end is an execution status (succeeded, failed, cancelled, timed_out), never
an HTTP error."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Conflict, NotFound
from core.models.executions import AgentExecution, ExecutionStatus
from core.models.sessions import Event, EventType
from core.models.users import Role, User
from core.pagination import Keyset, Page
from core.runs.backends import Backends
from core.runs.events import EventLog
from core.runs.following import Log, follow, resume_after
from core.runs.queueing import enqueue_execution
from core.runs.starting import start_run, with_children
from core.schemas.agents import ExecuteRequest
from core.schemas.executions import EventsQuery, ExecutionsQuery

if TYPE_CHECKING:
    from core.access.callers import Caller
    from core.runs.live import LiveRun

log = logging.getLogger(__name__)

EXECUTIONS_ORDER = Keyset((AgentExecution.created_at, AgentExecution.id), descending=True)
EVENTS_ORDER = Keyset((Event.seq,))


def execute_agent(
    db: Session,
    *,
    caller: Caller,
    agent_id: uuid.UUID,
    data: ExecuteRequest,
    backends: Backends,
    live: LiveRun | None = None,
) -> AgentExecution:
    """Run the agent (execute access), in a session when `data.session_id` is set; streamed to
    `live` when given."""
    return start_run(db, caller=caller, agent_id=agent_id, data=data, backends=backends, live=live)


def cancel_execution(
    db: Session, *, user: User, execution_id: uuid.UUID, backends: Backends
) -> AgentExecution:
    """Queued or waiting for approvals: cancelled at once. Running: its owner stops at the
    next step boundary (events so far are kept). Terminal: 409."""
    execution = db.scalar(
        select(AgentExecution).where(AgentExecution.id == execution_id).with_for_update()
    )
    if execution is None or (execution.user_id != user.id and user.role != Role.admin):
        raise NotFound("no such execution", code="execution_not_found")
    if execution.status.is_terminal:
        raise Conflict(
            f"the execution already ended ({execution.status.value})", code="already_finished"
        )
    now = backends.clock.now()
    execution.cancel_requested_at = execution.cancel_requested_at or now
    if execution.status in (ExecutionStatus.queued, ExecutionStatus.waiting_approval):
        execution.status = ExecutionStatus.cancelled
        execution.finished_at = now
        EventLog(execution_id=execution.id, session_id=execution.session_id).add(
            db, [(EventType.status, {"status": "cancelled"})]
        )
    db.flush()
    from core.runs.tree import cancel_descendants

    cancel_descendants(db, execution.id, now)
    if execution.parent_execution_id is not None and execution.status.is_terminal:
        # a workflow waiting on this step for approvals goes on (and finds it cancelled)
        from core.runs.approvals.rows import wake_parent_row

        woken = wake_parent_row(db, execution.id, now)
        if woken is not None:
            db.commit()
            enqueue_execution(backends, woken[0], woken[1] + 1, suffix="woken")
    return execution


def list_executions(db: Session, *, user: User, query: ExecutionsQuery) -> Page[AgentExecution]:
    stmt = select(AgentExecution).where(AgentExecution.user_id == user.id)
    where = {
        AgentExecution.agent_id: query.agent_id,
        AgentExecution.session_id: query.session_id,
        AgentExecution.status: query.status,
    }
    return EXECUTIONS_ORDER.fetch(db, stmt, query.cursor, query.limit, where=where)


def get_execution(db: Session, *, user: User, execution_id: uuid.UUID) -> AgentExecution:
    """The caller's own run (admins may read any); anyone else's is a 404."""
    execution = db.get(AgentExecution, execution_id)
    if execution is None or (execution.user_id != user.id and user.role != Role.admin):
        raise NotFound("no such execution", code="execution_not_found")
    return execution


def execution_detail(db: Session, *, user: User, execution_id: uuid.UUID) -> AgentExecution:
    """One run with its workflow steps (child executions) listed."""
    return with_children(db, get_execution(db, user=user, execution_id=execution_id))


def list_events(
    db: Session, *, user: User, execution_id: uuid.UUID, query: EventsQuery
) -> Page[Event]:
    get_execution(db, user=user, execution_id=execution_id)
    stmt = select(Event).where(Event.execution_id == execution_id)
    return EVENTS_ORDER.fetch(db, stmt, query.cursor, query.limit)


def follow_events(
    db: Session, *, user: User, execution_id: uuid.UUID, last_event_id: str | None
) -> AsyncIterator[str]:
    """Server-sent events of a run as they are written (any instance can serve them), resumed
    after `Last-Event-ID` (a seq); they end once the run is over and every event was sent."""
    get_execution(db, user=user, execution_id=execution_id)
    after = resume_after(last_event_id)
    return follow(Log(execution_id=execution_id), after)
