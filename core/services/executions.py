"""Executions: start a run of an agent, carry it to a terminal status, and read runs back.

A synchronous run commits its execution row before the model is called (so it is visible while
it runs and no transaction stays open across model calls), writes events at each tool boundary,
and records the outcome, usage and cost when it ends. Every way a run can end is an execution
status (succeeded, failed, timed_out), never an HTTP error.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.agents.definition import AgentDefinition
from core.clock import utcnow
from core.config import Settings
from core.db import then_commit
from core.errors import Conflict, DomainError, Invalid, NotFound, field_error
from core.models.agents import Agent
from core.models.executions import AgentExecution, ExecutionMode, ExecutionStatus, WorkflowType
from core.models.sessions import AgentSession, Event, EventType, SessionStatus
from core.models.users import Role, User
from core.pagination import Keyset, Page
from core.replies import Reply
from core.runs import execution_rows, known_definitions
from core.runs.engine import run_claimed
from core.runs.events import EventLog
from core.runs.fresh import FreshRun
from core.runs.leases import ACTIVE
from core.runs.queueing import enqueue_execution
from core.runs.session_history import session_history
from core.schemas.agents import ExecuteRequest
from core.schemas.executions import EventsQuery, ExecutionsQuery
from core.services.agent_access import Access, agent_for

if TYPE_CHECKING:
    from core.services.auth import Caller

log = logging.getLogger(__name__)

EXECUTIONS_ORDER = Keyset((AgentExecution.created_at, AgentExecution.id), descending=True)
EVENTS_ORDER = Keyset((Event.seq,))


def execute_agent(
    db: Session, *, caller: Caller, agent_id: uuid.UUID, data: ExecuteRequest, settings: Settings
) -> AgentExecution | Reply:
    """Run the agent (execute access). Outside a session one statement checks the account and
    the access and creates the run; when it writes nothing, the full path says why (401, 404,
    403, 409) or finds the run the idempotency key already made."""
    if data.session_id is None:
        started = _start_checked(db, caller=caller, agent_id=agent_id, data=data, settings=settings)
        if started is not None:
            return started
    from core.services.auth import account_of

    user = account_of(db, caller)
    # access first: a reused key must not reveal anything about an agent the caller cannot see
    agent = agent_for(db, user, agent_id, Access.execute)
    return start(db, user=user, agent=agent, data=data, settings=settings)


def start(
    db: Session, *, user: User, agent: Agent, data: ExecuteRequest, settings: Settings
) -> AgentExecution | Reply:
    """Create the execution (or find the one this idempotency key already made) and either
    run it here (sync) or hand it to the task queue. The caller has checked execute access."""
    if data.idempotency_key is not None:
        # before the session's busy check: a retry of a running turn gets that turn back
        existing = by_idempotency_key(db, user=user, key=data.idempotency_key)
        if existing is not None:
            return answer(same_request(existing, agent.id))
    session = None
    if data.session_id is not None:
        session = session_for_turn(db, user=user, session_id=data.session_id, agent_id=agent.id)
    if not agent.is_active:
        raise Conflict("the agent is deactivated", code="agent_inactive")
    definition = AgentDefinition.model_validate(agent.definition)
    if data.webhook_url is not None:
        from core.webhooks import check_webhook_url

        check_webhook_url(data.webhook_url, settings)
    now = utcnow()
    execution = _new_run(
        data,
        settings,
        now,
        agent_id=agent.id,
        agent_version=agent.version,
        user_id=user.id,
        session_id=session.id if session else None,
        workflow_type=(
            WorkflowType(definition.workflow.type) if definition.workflow else WorkflowType.single
        ),
    )
    events = EventLog(execution_id=execution.id, session_id=execution.session_id, fresh=True)
    opening = events.rows(db, [(EventType.user_message, {"content": data.input})])
    if not execution_rows.insert_execution(db, execution, opening, commit=_start_commit(data)):
        # the same idempotency key raced in from another request (which has committed); a
        # session's seqs may skip the ones this attempt allocated
        db.rollback()
        existing = by_idempotency_key(db, user=user, key=str(data.idempotency_key))
        if existing is None:
            raise Conflict("this idempotency_key is in use", code="idempotency_conflict")
        return answer(same_request(existing, agent.id))
    db.commit()  # the COMMIT went with the INSERT (then_commit): this closes the session's side
    return _launch(db, execution, events, definition, settings, session=session)


def _start_checked(
    db: Session, *, caller: Caller, agent_id: uuid.UUID, data: ExecuteRequest, settings: Settings
) -> AgentExecution | Reply | None:
    """`start` in one statement for a caller nothing was read about: the INSERT itself checks
    the account and the access (execution_rows.insert_checked_execution). None when it wrote
    nothing."""
    if data.webhook_url is not None:
        from core.webhooks import check_webhook_url

        try:
            check_webhook_url(data.webhook_url, settings)
        except DomainError:  # reported by the full path, after the access checks
            return None
    known = known_definitions.latest(agent_id)
    now = utcnow()
    # the agent's version and workflow type are the statement's to fill in
    execution = _new_run(
        data,
        settings,
        now,
        agent_id=agent_id,
        agent_version="",
        user_id=caller.user_id,
        workflow_type=WorkflowType.single,
    )
    events = EventLog(execution_id=execution.id, session_id=None, fresh=True)
    opening = events.rows(db, [(EventType.user_message, {"content": data.input})])
    started = execution_rows.insert_checked_execution(
        db,
        execution,
        opening,
        known_version=known[0] if known else None,
        commit=_start_commit(data),
    )
    if started is None:
        return None
    db.commit()  # as in `start`
    if started.definition is None:
        assert known is not None
        definition = known[1]
    else:
        definition = AgentDefinition.model_validate(started.definition)
        known_definitions.remember(agent_id, started.version, definition)
    execution.agent_version = started.version
    execution.workflow_type = started.workflow_type
    return _launch(db, execution, events, definition, settings, session=None)


def _new_run(
    data: ExecuteRequest,
    settings: Settings,
    now: datetime,
    *,
    agent_id: uuid.UUID,
    agent_version: str,
    user_id: uuid.UUID,
    workflow_type: WorkflowType,
    session_id: uuid.UUID | None = None,
) -> AgentExecution:
    sync = data.mode == "sync"
    return execution_rows.new_execution(
        id=uuid.uuid4(),
        agent_id=agent_id,
        agent_version=agent_version,
        user_id=user_id,
        session_id=session_id,
        status=ExecutionStatus.running if sync else ExecutionStatus.queued,
        mode=ExecutionMode.sync if sync else ExecutionMode.async_,
        workflow_type=workflow_type,
        input=data.input,
        idempotency_key=data.idempotency_key,
        webhook_url=data.webhook_url,
        attempt=1 if sync else 0,
        lease_expires_at=now + timedelta(seconds=settings.execution_lease_s) if sync else None,
        started_at=now if sync else None,
        # set here rather than by the server so the INSERT needs no RETURNING round trip
        created_at=now,
        updated_at=now,
    )


def _start_commit(data: ExecuteRequest) -> dict[str, Any]:
    """The COMMIT that goes with a new run's INSERT. The running row of a sync run need not
    survive a database crash (its caller would get no answer either), so that commit skips
    the WAL flush; the outcome's commit is durable."""
    return then_commit(relaxed=data.mode == "sync")


def _launch(
    db: Session,
    execution: AgentExecution,
    events: EventLog,
    definition: AgentDefinition,
    settings: Settings,
    *,
    session: AgentSession | None,
) -> AgentExecution | Reply:
    """Run a just-created execution here (sync: answered finished) or queue it (async)."""
    if execution.mode == ExecutionMode.sync:
        fresh = FreshRun(
            definition=definition,
            agent_version=(execution.agent_id, execution.agent_version),
            session_history=session_history(db, session.id) if session else [],
            raw_input=execution.input,
            started_at=execution.created_at,
            user_id=execution.user_id,
            mode=execution.mode,
            session_id=execution.session_id,
            webhook_url=execution.webhook_url,
            events=events,
        )
        outcome = run_claimed(execution.id, 1, settings, fresh=fresh)
        if outcome is None:  # lost to another delivery: read what it recorded
            recorded = db.get(AgentExecution, execution.id)
            assert recorded is not None
            execution = recorded
        else:
            _show_outcome(execution, outcome)
        return with_children(db, execution)
    enqueue_execution(execution.id, 1, settings)
    return answer(execution)


def _show_outcome(execution: AgentExecution, outcome: Any) -> None:
    """Put the recorded outcome on the (transient) row that answers the request: reading it
    back would cost a round trip."""
    values = {
        "status": ExecutionStatus(outcome.status),
        "output": outcome.output,
        "error": outcome.error,
        **outcome.usage.columns(),
        "finished_at": outcome.finished_at,
        "trace_id": outcome.trace_id,
    }
    for name, value in values.items():
        setattr(execution, name, value)


def answer(execution: AgentExecution) -> AgentExecution | Reply:
    """Sync runs answer 200 with the finished execution; async ones 202 until they finish."""
    if execution.mode == ExecutionMode.async_:
        return Reply(execution, 202, {"Location": f"/executions/{execution.id}"})
    return execution


def session_for_turn(
    db: Session, *, user: User, session_id: uuid.UUID, agent_id: uuid.UUID | None = None
) -> AgentSession:
    """The caller's session, locked, with no run in flight (a second turn would interleave
    the history)."""
    session = db.scalar(
        select(AgentSession)
        .where(AgentSession.id == session_id, AgentSession.user_id == user.id)
        .with_for_update()
    )
    if session is None:
        raise NotFound("no such session", code="session_not_found")
    if agent_id is not None and session.agent_id != agent_id:
        raise Conflict("the session belongs to another agent", code="session_agent_mismatch")
    if session.status == SessionStatus.archived:
        raise Conflict("the session is archived; reopen it first", code="session_archived")
    busy = db.scalar(
        select(AgentExecution.id)
        .where(AgentExecution.session_id == session.id, AgentExecution.status.in_(ACTIVE))
        .limit(1)
    )
    if busy is not None:
        raise Conflict(
            f"execution {busy} is still running in this session; wait for it to finish or "
            "cancel it before sending another message",
            code="session_busy",
        )
    return session


def cancel_execution(db: Session, *, user: User, execution_id: uuid.UUID) -> AgentExecution:
    """Queued: cancelled at once. Running: its owner stops at the next step boundary (events
    so far are kept). Terminal: 409."""
    execution = db.scalar(
        select(AgentExecution).where(AgentExecution.id == execution_id).with_for_update()
    )
    if execution is None or (execution.user_id != user.id and user.role != Role.admin):
        raise NotFound("no such execution", code="execution_not_found")
    if execution.status.is_terminal:
        raise Conflict(
            f"the execution already ended ({execution.status.value})", code="already_finished"
        )
    now = utcnow()
    execution.cancel_requested_at = execution.cancel_requested_at or now
    if execution.status == ExecutionStatus.queued:
        execution.status = ExecutionStatus.cancelled
        execution.finished_at = now
        EventLog(execution_id=execution.id, session_id=execution.session_id).add(
            db, [(EventType.status, {"status": "cancelled"})]
        )
    db.flush()
    from core.runs.workflow_steps import cancel_descendants

    cancel_descendants(execution.id, db)
    return execution


def list_executions(db: Session, *, user: User, query: ExecutionsQuery) -> Page[AgentExecution]:
    stmt = select(AgentExecution).where(AgentExecution.user_id == user.id)
    if query.agent_id is not None:
        stmt = stmt.where(AgentExecution.agent_id == query.agent_id)
    if query.session_id is not None:
        stmt = stmt.where(AgentExecution.session_id == query.session_id)
    if query.status is not None:
        stmt = stmt.where(AgentExecution.status == query.status)
    rows = db.scalars(EXECUTIONS_ORDER.apply(stmt, query.cursor, query.limit)).all()
    return EXECUTIONS_ORDER.page(rows, query.limit, key=lambda e: (e.created_at, e.id))


def get_execution(db: Session, *, user: User, execution_id: uuid.UUID) -> AgentExecution:
    """The caller's own run (admins may read any); anyone else's is a 404."""
    execution = db.get(AgentExecution, execution_id)
    if execution is None or (execution.user_id != user.id and user.role != Role.admin):
        raise NotFound("no such execution", code="execution_not_found")
    return execution


def execution_detail(db: Session, *, user: User, execution_id: uuid.UUID) -> AgentExecution:
    """One run with its workflow steps (child executions) listed."""
    return with_children(db, get_execution(db, user=user, execution_id=execution_id))


def with_children(db: Session, execution: AgentExecution) -> AgentExecution:
    if execution.workflow_type != WorkflowType.single:
        execution.__dict__["children"] = list(
            db.scalars(
                select(AgentExecution)
                .where(AgentExecution.parent_execution_id == execution.id)
                .order_by(AgentExecution.iteration, AgentExecution.step_index)
            )
        )
    return execution


def list_events(
    db: Session, *, user: User, execution_id: uuid.UUID, query: EventsQuery
) -> Page[Event]:
    get_execution(db, user=user, execution_id=execution_id)
    stmt = select(Event).where(Event.execution_id == execution_id)
    rows = db.scalars(EVENTS_ORDER.apply(stmt, query.cursor, query.limit)).all()
    return EVENTS_ORDER.page(rows, query.limit, key=lambda e: (e.seq,))


def by_idempotency_key(db: Session, *, user: User, key: str) -> AgentExecution | None:
    return db.scalar(
        select(AgentExecution).where(
            AgentExecution.user_id == user.id, AgentExecution.idempotency_key == key
        )
    )


def same_request(existing: AgentExecution, agent_id: uuid.UUID) -> AgentExecution:
    if existing.agent_id != agent_id:
        raise Conflict(
            "this idempotency_key was already used for another agent", code="idempotency_conflict"
        )
    return existing


SSE_POLL_S = 0.25
SSE_KEEPALIVE_S = 15.0
SSE_MAX_S = 600.0


def follow_events(
    db: Session, *, user: User, execution_id: uuid.UUID, last_event_id: str | None
) -> Iterator[str]:
    """Server-sent events of a run as they are written, read from the database (any instance
    can serve them). Resumes after `Last-Event-ID` (a seq); ends once the run is over and every
    event was sent, or after SSE_MAX_S (the client reconnects with Last-Event-ID)."""
    get_execution(db, user=user, execution_id=execution_id)
    try:
        after = int(last_event_id) if last_event_id else 0
    except ValueError:
        raise Invalid(
            "Last-Event-ID must be the seq of an event",
            details=[field_error(["header", "Last-Event-ID"], "not an integer", "int_parsing")],
        ) from None
    return _event_stream(execution_id, after)


def _event_stream(execution_id: uuid.UUID, after: int) -> Iterator[str]:
    from core.db import transaction

    deadline = time.monotonic() + SSE_MAX_S
    quiet_since = time.monotonic()
    yield "retry: 1000\n\n"
    while time.monotonic() < deadline:
        with transaction() as db:
            status = db.scalar(
                select(AgentExecution.status).where(AgentExecution.id == execution_id)
            )
            rows = db.execute(
                select(Event.seq, Event.type, Event.payload, Event.created_at)
                .where(Event.execution_id == execution_id, Event.seq > after)
                .order_by(Event.seq)
                .limit(200)
            ).all()
        for seq, kind, payload, created_at in rows:
            after = seq
            data = json.dumps(
                {"seq": seq, "type": kind, "payload": payload, "created_at": created_at.isoformat()}
            )
            yield f"id: {seq}\nevent: {kind}\ndata: {data}\n\n"
        if rows:
            quiet_since = time.monotonic()
            continue
        if status is None or ExecutionStatus(status).is_terminal:
            yield f"event: end\ndata: {json.dumps({'status': status})}\n\n"
            return
        if time.monotonic() - quiet_since > SSE_KEEPALIVE_S:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()
        time.sleep(SSE_POLL_S)
