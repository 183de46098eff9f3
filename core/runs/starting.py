"""Starting a run: the one way, whoever asks (an execute, a session's message, and through
`insert_checked_execution` a workflow's step).

One statement checks the caller's account and access, the session (for a turn: the caller's,
not archived, not busy), takes the agent's current version, inserts the run and its first event
and (for a turn) the session's next seq. Nothing is read first. When that statement writes
nothing, the checks are made again one by one, to say why (401, 404, 403, 409, 422), or to find
the run an idempotency key already made. A sync run then runs here; an async one is queued."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.access.agents import Access, agent_for
from core.config import Settings
from core.db import then_commit
from core.definition import AgentDefinition
from core.errors import Conflict, DomainError
from core.models.executions import AgentExecution, ExecutionMode, ExecutionStatus, WorkflowType
from core.models.sessions import EventType
from core.models.users import User
from core.runs import execution_rows, known_definitions
from core.runs.backends import Backends
from core.runs.engine import run_claimed
from core.runs.events import EventLog
from core.runs.leases import lease_holder
from core.runs.queueing import enqueue_execution
from core.runs.quotas import quota_refusal
from core.runs.session_history import session_history
from core.runs.session_rules import own_session, session_for_turn
from core.runs.store import RunInputs
from core.schemas.agents import ExecuteRequest

if TYPE_CHECKING:
    from core.access.callers import Caller
    from core.agents.runner import RunOutcome
    from core.runs.live import LiveRun


def start_run(
    db: Session,
    *,
    caller: Caller,
    agent_id: uuid.UUID | None,
    data: ExecuteRequest,
    backends: Backends,
    live: LiveRun | None = None,
    schedule_id: uuid.UUID | None = None,
) -> AgentExecution:
    """Start a run of `agent_id` (None: the agent of `data.session_id`) for the caller: a sync
    run comes back finished, an async one queued; the same idempotency key gives the run it
    made (core.http.runs answers an async run 202). With `live`, a sync run is streamed to it
    as it happens and answered running (503 `too_busy` before anything is written when this
    instance streams all it can). `schedule_id`: the schedule that starts it."""
    with live.seat() if live is not None else nullcontext():
        return _start(
            db,
            caller=caller,
            agent_id=agent_id,
            data=data,
            backends=backends,
            live=live,
            schedule_id=schedule_id,
        )


def _start(
    db: Session,
    *,
    caller: Caller,
    agent_id: uuid.UUID | None,
    data: ExecuteRequest,
    backends: Backends,
    live: LiveRun | None,
    schedule_id: uuid.UUID | None,
) -> AgentExecution:
    if isinstance(data.input, list):  # content parts: the files they name are checked first
        from core.runs.input_files import check_input_files

        check_input_files(db, caller.user_id, data.input, backends.settings)
    for _ in range(2):  # a second try when the checks found nothing wrong (a turn just ended)
        started = _start_checked(
            db,
            caller=caller,
            agent_id=agent_id,
            data=data,
            backends=backends,
            live=live,
            schedule_id=schedule_id,
        )
        if started is not None:
            return started
        found = _why_not(
            db, caller=caller, agent_id=agent_id, data=data, settings=backends.settings
        )
        if found is not None:
            return found
    raise Conflict("the run could not start; try again", code="start_conflict")


def _start_checked(
    db: Session,
    *,
    caller: Caller,
    agent_id: uuid.UUID | None,
    data: ExecuteRequest,
    backends: Backends,
    live: LiveRun | None,
    schedule_id: uuid.UUID | None,
) -> AgentExecution | None:
    settings = backends.settings
    if data.webhook_url is not None:
        from core.webhooks import check_webhook_url

        try:
            check_webhook_url(data.webhook_url, settings)
        except DomainError:  # reported by `_why_not`, after the access checks
            return None
    known_agent = agent_id or _session_agents.get(data.session_id)
    known = known_definitions.latest(known_agent) if known_agent else None
    now = backends.clock.now()
    execution = new_run(
        data,
        settings,
        now,
        agent_id=agent_id,
        user_id=caller.user_id,
        session_id=data.session_id,
        schedule_id=schedule_id,
    )
    events = EventLog(execution_id=execution.id, session_id=execution.session_id)
    opening = events.opening([(EventType.user_message, {"content": data.input})])
    try:
        started = execution_rows.insert_checked_execution(
            db,
            execution,
            opening,
            known_version=known[0] if known else None,
            commit=_commit(data),
            key_hash=caller.key.key_hash if caller.key is not None else None,
        )
    except DBAPIError as exc:
        refused = quota_refusal(exc, now)
        if refused is None:
            raise
        db.rollback()
        raise refused from None
    if started is None:
        db.rollback()  # the statement's side effects (a turn's seqs) go with it
        return None
    db.commit()  # the COMMIT went with the INSERT (then_commit): this closes the session's side
    if started.definition is None:
        assert known is not None
        definition = known[1]
    else:
        definition = AgentDefinition.model_validate(started.definition)
        known_definitions.remember(started.agent_id, started.version, definition)
    if data.session_id is not None:
        _session_agents.put(data.session_id, started.agent_id)
    execution.agent_id = started.agent_id
    execution.agent_version = started.version
    execution.workflow_type = started.workflow_type
    return _launch(db, execution, events, definition, backends, live, started)


def _why_not(
    db: Session,
    *,
    caller: Caller,
    agent_id: uuid.UUID | None,
    data: ExecuteRequest,
    settings: Settings,
) -> AgentExecution | None:
    """Why the checked start wrote nothing, as the error that says it, or the run the
    idempotency key already made; None when every check passes now."""
    from core.access.callers import account_of

    user = account_of(db, caller)
    if agent_id is None:
        assert data.session_id is not None
        agent_id = own_session(db, user.id, data.session_id).agent_id
    # access first: a reused key must not reveal anything about an agent the caller cannot see
    agent = agent_for(db, user, agent_id, Access.execute)
    if data.idempotency_key is not None:
        # before the session's busy check: a retry of a running turn gets that turn back
        existing = by_idempotency_key(db, user=user, key=data.idempotency_key)
        if existing is not None:
            return same_request(existing, agent.id)
    if data.session_id is not None:
        session_for_turn(db, user_id=user.id, session_id=data.session_id, agent_id=agent.id)
    if not agent.is_active:
        raise Conflict("the agent is deactivated", code="agent_inactive")
    if data.webhook_url is not None:
        from core.webhooks import check_webhook_url

        check_webhook_url(data.webhook_url, settings)
    db.rollback()
    return None


def new_run(
    data: ExecuteRequest,
    settings: Settings,
    now: datetime,
    *,
    agent_id: uuid.UUID | None,
    user_id: uuid.UUID,
    session_id: uuid.UUID | None = None,
    schedule_id: uuid.UUID | None = None,
) -> AgentExecution:
    """A new run as its starting statement writes it (its agent, version and workflow type are
    the statement's to fill in)."""
    sync = data.mode == "sync"
    return execution_rows.new_execution(
        id=uuid.uuid4(),
        agent_id=agent_id,
        agent_version="",
        user_id=user_id,
        session_id=session_id,
        status=ExecutionStatus.running if sync else ExecutionStatus.queued,
        mode=ExecutionMode.sync if sync else ExecutionMode.async_,
        workflow_type=WorkflowType.single,
        input=data.input,
        idempotency_key=data.idempotency_key,
        schedule_id=schedule_id,
        webhook_url=data.webhook_url,
        attempt=1 if sync else 0,
        lease_expires_at=now + timedelta(seconds=settings.execution_lease_s) if sync else None,
        lease_holder=lease_holder() if sync else None,
        started_at=now if sync else None,
        # set here rather than by the server so the INSERT needs no RETURNING round trip
        created_at=now,
        updated_at=now,
    )


def _commit(data: ExecuteRequest) -> dict[str, Any]:
    """The COMMIT that goes with a new run's INSERT. The running row of a sync run need not
    survive a database crash (its caller would get no answer either), so that commit skips
    the WAL flush; the outcome's commit is durable."""
    return then_commit(relaxed=data.mode == "sync")


def _launch(
    db: Session,
    execution: AgentExecution,
    events: EventLog,
    definition: AgentDefinition,
    backends: Backends,
    live: LiveRun | None = None,
    started: execution_rows.CheckedStart | None = None,
) -> AgentExecution:
    """Run a just-created execution here (sync: answered finished; streamed: on the live
    run's pool, answered running) or queue it (async)."""
    if execution.mode == ExecutionMode.async_:
        enqueue_execution(backends, execution.id, 1)
        return execution
    inputs = RunInputs(
        definition=definition,
        agent_version=(execution.agent_id, execution.agent_version),
        session_history=(
            session_history(db, execution.session_id)
            if execution.session_id and (started is None or started.seq_base != 0)
            else []  # a session's first turn has nothing before it
        ),
        raw_input=execution.input,
        started_at=execution.created_at,
        user_id=execution.user_id,
        mode=execution.mode,
        session_id=execution.session_id,
        webhook_url=execution.webhook_url,
        events=events,
        tokens_left_today=None if started is None else started.tokens_left,
        cost_left_today=None if started is None else started.cost_left,
    )
    if live is None:
        outcome = run_claimed(execution.id, 1, backends, inputs=inputs)
        with _goes_on_if_unreachable(execution):
            return _ran(db, execution, outcome)
    events.watcher = live.events
    inputs.on_event = live.on_event

    def run() -> Any:
        outcome = run_claimed(execution.id, 1, backends, inputs=inputs)
        from core.db import transaction
        from core.schemas.executions import execution_json

        with _goes_on_if_unreachable(execution), transaction() as db:
            return execution_json(_ran(db, execution, outcome))

    live.launch(execution.id, run)
    return execution


@contextmanager
def _goes_on_if_unreachable(execution: AgentExecution) -> Iterator[None]:
    """The run exists and ran: a database lost while reading its end back is a 503 naming it
    (RunGoesOn), not a bare error about a run that is kept."""
    try:
        yield
    except Exception as exc:
        from core.db.availability import database_unavailable

        if database_unavailable(exc):
            from core.errors import RunGoesOn

            raise RunGoesOn(execution.id) from exc
        raise


def _ran(db: Session, execution: AgentExecution, outcome: RunOutcome | None) -> AgentExecution:
    """The execution as its run here ended."""
    if outcome is None:  # lost to another delivery: read what it recorded
        recorded = db.get(AgentExecution, execution.id)
        assert recorded is not None
        return with_children(db, recorded)
    for name, value in {
        "status": ExecutionStatus(outcome.status),
        "output": outcome.output,
        "error": outcome.error,
        **outcome.usage.columns(),
        "finished_at": outcome.finished_at,
        "trace_id": outcome.trace_id,
        "pending_approvals": outcome.pending_approvals,
    }.items():
        # the recorded outcome on the (transient) row that answers: reading it back would cost
        # a round trip
        setattr(execution, name, value)
    return with_children(db, execution)


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


class _SessionAgents:
    """Which agent each recent session belongs to (it never changes): a turn then finds the
    agent's definition this instance already knows, and the start need not send it back."""

    MAX = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._agents: OrderedDict[uuid.UUID, uuid.UUID] = OrderedDict()

    def get(self, session_id: uuid.UUID | None) -> uuid.UUID | None:
        if session_id is None:
            return None
        with self._lock:
            return self._agents.get(session_id)

    def put(self, session_id: uuid.UUID, agent_id: uuid.UUID) -> None:
        with self._lock:
            self._agents[session_id] = agent_id
            self._agents.move_to_end(session_id)
            while len(self._agents) > self.MAX:
                self._agents.popitem(last=False)


_session_agents = _SessionAgents()
