"""Executions: start a run of an agent, carry it to a terminal status, and read runs back.

A synchronous run commits its execution row before the model is called (so it is visible while
it runs and no transaction stays open across model calls), writes events at each tool boundary,
and records the outcome, usage and cost when it ends. Every way a run can end is an execution
status (succeeded, failed, timed_out), never an HTTP error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.agents.definition import AgentDefinition
from core.clock import utcnow
from core.config import Settings
from core.errors import Conflict, Invalid, NotFound, field_error
from core.models.agents import Agent
from core.models.executions import AgentExecution, ExecutionMode, ExecutionStatus
from core.models.sessions import Event, EventType
from core.models.users import Role, User
from core.pagination import Keyset, Page
from core.schemas.agents import ExecuteRequest
from core.schemas.executions import EventsQuery, ExecutionsQuery
from core.services.agent_access import Access, agent_for
from core.services.events import EventLog, request_events, response_events

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelRequest, ModelResponse
    from pydantic_ai.usage import RunUsage

    from core.agents.runner import RunOutcome

log = logging.getLogger(__name__)

EXECUTIONS_ORDER = Keyset((AgentExecution.created_at, AgentExecution.id), descending=True)
EVENTS_ORDER = Keyset((Event.seq,))


def execute_agent(
    db: Session, *, user: User, agent_id: uuid.UUID, data: ExecuteRequest, settings: Settings
) -> AgentExecution:
    if data.mode == "async" or data.session_id is not None or data.webhook_url is not None:
        unsupported = (
            "mode"
            if data.mode == "async"
            else ("session_id" if data.session_id is not None else "webhook_url")
        )
        raise Invalid(
            "asynchronous runs, sessions and webhooks are not available on this deployment yet",
            details=[field_error(["body", unsupported], "not supported yet", "unsupported")],
        )
    # access first: a reused key must not reveal anything about an agent the caller cannot see
    agent = agent_for(db, user, agent_id, Access.execute)
    if data.idempotency_key is not None:
        existing = _by_idempotency_key(db, user=user, key=data.idempotency_key)
        if existing is not None:
            return _same_request(existing, agent_id)
    if not agent.is_active:
        raise Conflict("the agent is deactivated", code="agent_inactive")
    definition = AgentDefinition.model_validate(agent.definition)
    if definition.workflow is not None:
        raise Invalid(
            "workflow agents cannot run on this deployment yet",
            details=[field_error(["definition", "workflow"], "not supported yet", "unsupported")],
        )
    now = utcnow()
    execution = AgentExecution(
        id=uuid.uuid4(),
        agent_id=agent.id,
        agent_version=agent.version,
        user_id=user.id,
        status=ExecutionStatus.running,
        mode=ExecutionMode.sync,
        input=data.input,
        idempotency_key=data.idempotency_key,
        attempt=1,
        started_at=now,
        # set here rather than by the server so the INSERT needs no RETURNING round trip
        created_at=now,
        updated_at=now,
    )
    db.add(execution)
    if data.idempotency_key is not None:
        try:
            with db.begin_nested():
                db.flush()
        except IntegrityError:  # the same key raced in from another request
            existing = _by_idempotency_key(db, user=user, key=data.idempotency_key)
            if existing is None:
                raise
            return _same_request(existing, agent_id)
    events = EventLog(execution_id=execution.id, session_id=None)
    events.add(db, [(EventType.user_message, {"content": data.input})])
    # the running row need not survive a database crash (the caller would get no answer
    # either), so this commit skips the WAL flush; the outcome's commit is durable
    db.execute(text("SET LOCAL synchronous_commit = off"))
    db.commit()
    outcome = run_to_outcome(
        agent,
        definition,
        prompt=_prompt(data.input),
        execution=execution,
        events=events,
        settings=settings,
    )
    record_outcome(db, execution, outcome, events)
    return execution


def run_to_outcome(
    agent: Agent,
    definition: AgentDefinition,
    *,
    prompt: str,
    execution: AgentExecution,
    events: EventLog,
    settings: Settings,
) -> RunOutcome:
    """Build the agent and run it on the shared loop; never raises for a failed run."""
    from core.agents.factory import RunDeps, build_agent
    from core.agents.loop import run_on_agent_loop
    from core.agents.providers import ProviderNotConfigured
    from core.agents.runner import RunOutcome, run_agent
    from core.tools.workspace import LocalWorkspace

    try:
        built = build_agent(definition, settings)
    except ProviderNotConfigured as exc:
        return RunOutcome("failed", error={"code": "provider_not_configured", "message": str(exc)})
    workspace_root = settings.workspaces_root / "executions" / str(execution.id)
    deps = RunDeps(
        workspace=LocalWorkspace(workspace_root, name="workspace", writable=True),
        repo=(
            LocalWorkspace(settings.repo_root, name="repo", writable=False)
            if settings.repo_root
            else None
        ),
    )
    observer = _Recorder(events)
    try:
        outcome = run_on_agent_loop(
            run_agent(built, prompt, deps=deps, limits=definition.limits, observer=observer),
            # the run enforces its own timeout; this only guards against a stuck loop
            timeout=definition.limits.timeout_s + 30,
        )
    except Exception:
        log.exception("execution %s crashed", execution.id)
        outcome = RunOutcome(
            "failed", error={"code": "internal_error", "message": "the run failed unexpectedly"}
        )
    outcome.pending_events = observer.pending
    return outcome


def record_outcome(
    db: Session, execution: AgentExecution, outcome: RunOutcome, events: EventLog
) -> None:
    from pydantic_ai.messages import ModelMessagesTypeAdapter

    pending = list(outcome.pending_events)
    if outcome.error is not None:
        pending.append((EventType.error, outcome.error))
    pending.append((EventType.status, {"status": outcome.status}))
    events.add(db, pending)
    execution.status = ExecutionStatus(outcome.status)
    execution.output = outcome.output
    execution.error = outcome.error
    execution.messages = ModelMessagesTypeAdapter.dump_python(outcome.messages, mode="json")
    execution.requests = outcome.requests
    execution.input_tokens = outcome.input_tokens
    execution.output_tokens = outcome.output_tokens
    execution.tool_calls = outcome.tool_calls
    execution.cost = outcome.cost
    execution.finished_at = utcnow()
    db.flush()


@dataclass
class _Recorder:
    """Writes events as the run goes: a model response is held until its tools ran (or the run
    ended), so a run without tools costs one write at the end."""

    events: EventLog
    pending: list[tuple[EventType, dict[str, Any]]] = field(default_factory=list)

    async def on_model_response(self, response: ModelResponse, usage: RunUsage) -> None:
        self.pending += response_events(response)

    async def on_tool_results(self, request: ModelRequest) -> None:
        batch, self.pending = self.pending + request_events(request), []
        await asyncio.to_thread(self._write, batch)

    def _write(self, batch: list[tuple[EventType, dict[str, Any]]]) -> None:
        from core.db import transaction

        with transaction() as db:
            self.events.add(db, batch)


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


def list_events(
    db: Session, *, user: User, execution_id: uuid.UUID, query: EventsQuery
) -> Page[Event]:
    get_execution(db, user=user, execution_id=execution_id)
    stmt = select(Event).where(Event.execution_id == execution_id)
    rows = db.scalars(EVENTS_ORDER.apply(stmt, query.cursor, query.limit)).all()
    return EVENTS_ORDER.page(rows, query.limit, key=lambda e: (e.seq,))


def _by_idempotency_key(db: Session, *, user: User, key: str) -> AgentExecution | None:
    return db.scalar(
        select(AgentExecution).where(
            AgentExecution.user_id == user.id, AgentExecution.idempotency_key == key
        )
    )


def _same_request(existing: AgentExecution, agent_id: uuid.UUID) -> AgentExecution:
    if existing.agent_id != agent_id:
        raise Conflict(
            "this idempotency_key was already used for another agent", code="idempotency_conflict"
        )
    return existing


def _prompt(value: str | dict[str, Any]) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
