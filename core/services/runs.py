"""Carrying one execution to a terminal status, at least once and never twice.

Whoever runs an execution holds it by its `attempt` number: the claim is a conditional UPDATE
(queued, or running with an expired lease) that bumps the attempt, and every later write is
fenced with `WHERE attempt = <mine>`; a write that matches nothing means another delivery owns
the run now, and this one stops without writing. Progress (the messages so far, the usage and
the events) is saved after each model response that calls tools and after each batch of tool
results, so a redelivered run resumes from its last saved step instead of starting over, and a
tool whose result was saved never runs again. A cancel request is noticed at the next step.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from core.agents.definition import AgentDefinition
from core.clock import utcnow
from core.config import Settings
from core.models.agents import AgentVersion
from core.models.executions import AgentExecution, ExecutionStatus
from core.models.sessions import EventType
from core.runs.usage import Usage
from core.services import execution_rows
from core.services.events import EventLog, request_events, response_events
from core.services.execution_rows import LeaseLost
from core.services.session_history import session_history as history_of_session

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse
    from pydantic_ai.usage import RunUsage

    from core.agents.runner import RunOutcome

log = logging.getLogger(__name__)

ACTIVE = (ExecutionStatus.queued, ExecutionStatus.running)


# -- claiming ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimResult:
    """What a delivery of an execution found: `attempt` when it now owns the run; otherwise
    `done` (finished or gone: acknowledge) or `busy_for_s` (another delivery holds a live
    lease: retry later)."""

    attempt: int | None = None
    done: bool = False
    busy_for_s: int = 0


def claim(db: Session, execution_id: uuid.UUID, settings: Settings) -> ClaimResult:
    now = utcnow()
    lease_until = now + timedelta(seconds=settings.execution_lease_s)
    claimed = db.execute(
        update(AgentExecution)
        .where(
            AgentExecution.id == execution_id,
            AgentExecution.cancel_requested_at.is_(None),
            _unowned(now),
        )
        .values(
            status=ExecutionStatus.running,
            attempt=AgentExecution.attempt + 1,
            lease_expires_at=lease_until,
            started_at=text("coalesce(started_at, now())"),
            updated_at=now,
        )
        .returning(AgentExecution.attempt)
    ).scalar_one_or_none()
    if claimed is not None:
        if claimed > settings.execution_max_attempts:
            fail_exhausted(db, execution_id, claimed, settings)
            return ClaimResult(done=True)
        return ClaimResult(attempt=int(claimed))
    execution = db.get(AgentExecution, execution_id)
    if execution is None or execution.status.is_terminal:
        return ClaimResult(done=True)
    # a cancel of a run under a live lease is noticed by its owner at its next step
    if execution.cancel_requested_at is not None and end_cancelled(db, execution_id, now):
        return ClaimResult(done=True)
    return ClaimResult(busy_for_s=_left(execution, now))


def end_cancelled(db: Session, execution_id: uuid.UUID, now: datetime) -> bool:
    """A cancel requested while nobody runs the execution (queued, or running under a lease
    that expired: its worker died) ends it `cancelled` now. One conditional UPDATE, so of
    concurrent sweepers and deliveries exactly one writes the status event."""
    ended = db.execute(
        update(AgentExecution)
        .where(
            AgentExecution.id == execution_id,
            AgentExecution.cancel_requested_at.is_not(None),
            _unowned(now),
        )
        .values(
            status=ExecutionStatus.cancelled,
            error={"code": "cancelled", "message": "cancelled on request"},
            finished_at=now,
            lease_expires_at=None,
            updated_at=now,
        )
        .returning(AgentExecution.session_id)
    ).first()
    if ended is None:
        return False
    EventLog(execution_id=execution_id, session_id=ended.session_id).add(
        db, [(EventType.status, {"status": "cancelled"})]
    )
    return True


def _unowned(now: datetime) -> Any:
    """No delivery runs the execution: queued, or running under a lease that ran out."""
    return or_(
        AgentExecution.status == ExecutionStatus.queued,
        (AgentExecution.status == ExecutionStatus.running)
        & (AgentExecution.lease_expires_at < now),
    )


def _left(execution: AgentExecution, now: datetime) -> int:
    if execution.lease_expires_at is None:
        return 1
    return max(1, int((execution.lease_expires_at - now).total_seconds()) + 1)


def fail_exhausted(db: Session, execution_id: uuid.UUID, attempt: int, settings: Settings) -> None:
    error = {
        "code": "too_many_attempts",
        "message": f"gave up after {settings.execution_max_attempts} deliveries",
    }
    # locked: of two sweepers, the second finds the run failed already
    execution = db.get(AgentExecution, execution_id, with_for_update=True)
    if execution is None or execution.status.is_terminal:
        return
    EventLog(execution_id=execution_id, session_id=execution.session_id).add(
        db, [(EventType.error, error), (EventType.status, {"status": "failed"})]
    )
    execution.status = ExecutionStatus.failed
    execution.error = error
    execution.finished_at = utcnow()
    execution.lease_expires_at = None


# -- running -------------------------------------------------------------------------------------


@dataclass
class Fence:
    execution_id: uuid.UUID
    attempt: int
    lease_s: int

    def hold(
        self,
        db: Session | Connection,
        *,
        events: list[dict[str, Any]] | None = None,
        trace: dict[str, Any] | None = None,
        commit: dict[str, Any] | None = None,
        **values: Any,
    ) -> datetime | None:
        """A fenced write that also extends the lease, with events (`EventLog.rows`) and a
        trace row that are written only if the fence holds; returns cancel_requested_at."""
        return execution_rows.hold(
            db,
            self.execution_id,
            self.attempt,
            self.lease_s,
            values,
            events=events,
            trace=trace,
            commit=commit,
        )


@dataclass
class DurableRecorder:
    """The run's observer: saves progress at each step boundary under the fence."""

    fence: Fence
    events: EventLog
    # what earlier attempts saved: the run's own message list starts after it
    resumed: list[ModelMessage] = field(default_factory=list)
    pending: list[tuple[EventType, dict[str, Any]]] = field(default_factory=list)
    cancel_seen: bool = False

    async def on_model_response(
        self, response: ModelResponse, usage: RunUsage, messages: list[ModelMessage]
    ) -> None:
        self.pending += response_events(response)
        if any(part.part_kind == "tool-call" for part in response.parts):
            await self._save(usage, messages)

    async def on_tool_results(
        self, request: ModelRequest, usage: RunUsage, messages: list[ModelMessage]
    ) -> None:
        self.pending += request_events(request)
        await self._save(usage, messages)

    async def heartbeat(self) -> None:
        await asyncio.to_thread(self._write, None, None)

    async def _save(self, usage: RunUsage, messages: list[ModelMessage]) -> None:
        await asyncio.to_thread(self._write, usage, messages)
        if self.cancel_seen:
            from core.agents.runner import RunStopped

            raise RunStopped()

    def _write(self, usage: RunUsage | None, messages: list[ModelMessage] | None) -> None:
        from pydantic_ai.messages import ModelMessagesTypeAdapter

        from core.agents.runner import RunAbandoned
        from core.db import core_transaction, then_commit

        values: dict[str, Any] = {}
        if usage is not None and messages is not None:
            values = {
                "messages": ModelMessagesTypeAdapter.dump_python(
                    [*self.resumed, *messages], mode="json"
                ),
                **Usage.of_run(usage).columns(),
            }
        batch, self.pending = (self.pending, []) if values else ([], self.pending)
        try:
            with core_transaction() as db:
                held = self.fence.hold(
                    db, events=self.events.rows(db, batch), commit=then_commit(), **values
                )
                if held is not None:
                    self.cancel_seen = True
        except LeaseLost:
            raise RunAbandoned(str(self.fence.execution_id)) from None


@dataclass
class FreshRun:
    """What the creator of a brand-new execution already holds, so running it right away (sync
    mode) needs no read of its own: one transaction to start, one to finish."""

    definition: AgentDefinition
    # (agent id, version): which agent version runs
    agent_version: tuple[uuid.UUID, str]
    # the conversation so far (core.services.session_history), for a turn in a session
    session_history: list[ModelMessage]
    raw_input: Any
    started_at: datetime
    user_id: uuid.UUID
    mode: Any
    session_id: uuid.UUID | None
    webhook_url: str | None
    events: EventLog


@dataclass(frozen=True)
class TraceInfo:
    trace_id: str
    started_at: datetime


def run_claimed(
    execution_id: uuid.UUID,
    attempt: int,
    settings: Settings,
    *,
    retry_transient: bool = False,
    fresh: FreshRun | None = None,
) -> RunOutcome | None:
    """See `_run_claimed`; this wraps it in the execution's trace span."""
    from core import telemetry

    with telemetry.span(
        settings, "agent execution", execution_id=execution_id, attempt=attempt
    ) as trace_id:
        try:
            return _run_claimed(
                execution_id,
                attempt,
                settings,
                retry_transient=retry_transient,
                fresh=fresh,
                trace_id=trace_id,
            )
        except Exception:
            if fresh is None:  # a delivery: the queue brings it back
                raise
            # the caller of a sync run is answered with the failed run, never a 500 that
            # leaves it running
            log.exception("execution %s crashed", execution_id)
            from core.agents.runner import RunOutcome

            outcome = RunOutcome(
                "failed",
                error={"code": "internal_error", "message": "the run failed unexpectedly"},
            )
            return _finished(
                Fence(execution_id, attempt, settings.execution_lease_s),
                fresh.events,
                outcome,
                settings,
                fresh.webhook_url,
                TraceInfo(trace_id, fresh.started_at),
            )


def _run_claimed(
    execution_id: uuid.UUID,
    attempt: int,
    settings: Settings,
    *,
    retry_transient: bool,
    fresh: FreshRun | None,
    trace_id: str,
) -> RunOutcome | None:
    """Run (or resume) an execution this caller has claimed, and record how it ended. Returns
    None when the run was abandoned to another delivery; never raises for a failed run. With
    `retry_transient`, a transient model failure keeps the run open for another delivery
    (the outcome says `retryable`) instead of failing it."""
    from core.agents.runner import RunAbandoned
    from core.db import transaction

    if fresh is not None:
        definition = fresh.definition
        agent_version = fresh.agent_version
        session_history = fresh.session_history
        saved: list[Any] = []
        started_at = fresh.started_at
        usage_so_far = Usage()
        raw_input, session_id = fresh.raw_input, fresh.session_id
        user_id, mode, webhook_url = fresh.user_id, fresh.mode, fresh.webhook_url
    else:
        with transaction() as db:
            execution = db.get(AgentExecution, execution_id)
            assert execution is not None
            agent_version = (execution.agent_id, execution.agent_version)
            definition = AgentDefinition.model_validate(
                db.scalar(
                    select(AgentVersion.definition).where(
                        AgentVersion.agent_id == execution.agent_id,
                        AgentVersion.version == execution.agent_version,
                    )
                )
            )
            session_history = (
                [] if execution.session_id is None else history_of_session(db, execution.session_id)
            )
            saved = list(execution.messages or [])
            started_at = execution.started_at or utcnow()
            usage_so_far = Usage.of_row(execution)
            raw_input = execution.input
            session_id = execution.session_id
            user_id, mode, webhook_url = execution.user_id, execution.mode, execution.webhook_url
    prompt = _prompt(raw_input)
    if definition.workflow is not None:
        return _run_workflow(
            execution_id,
            attempt,
            settings,
            definition,
            started_at=started_at,
            raw_input=raw_input,
            user_id=user_id,
            mode=mode,
            session_id=session_id,
            retry_transient=retry_transient,
            webhook_url=webhook_url,
            trace_id=trace_id,
        )
    fence = Fence(execution_id, attempt, settings.execution_lease_s)
    events = fresh.events if fresh else EventLog(execution_id=execution_id, session_id=session_id)
    recorder = DurableRecorder(fence, events, resumed=_messages(saved))
    elapsed = (utcnow() - started_at).total_seconds()
    try:
        outcome = _run(
            definition,
            agent_version=agent_version,
            settings=settings,
            execution_id=execution_id,
            session_id=session_id,
            prompt=None if saved else prompt,
            user_id=user_id,
            history=[*session_history, *_messages(saved)],
            resumed=_messages(saved),
            recorder=recorder,
            timeout_s=definition.limits.timeout_s - elapsed,
            usage_so_far=usage_so_far,
        )
    except RunAbandoned:
        log.info("execution %s attempt %s lost its lease", execution_id, attempt)
        return None
    outcome.pending_events = recorder.pending
    if outcome.retryable and retry_transient and attempt < settings.execution_max_attempts:
        try:
            release_for_retry(fence, events, outcome)
        except LeaseLost:
            return None
        return outcome
    outcome.retryable = False
    return _finished(fence, events, outcome, settings, webhook_url, TraceInfo(trace_id, started_at))


def _run_workflow(
    execution_id: uuid.UUID,
    attempt: int,
    settings: Settings,
    definition: AgentDefinition,
    *,
    started_at: datetime,
    raw_input: Any,
    user_id: uuid.UUID,
    mode: Any,
    session_id: uuid.UUID | None,
    retry_transient: bool,
    webhook_url: str | None,
    trace_id: str,
) -> RunOutcome | None:
    import threading

    from core.agents.runner import RunOutcome
    from core.services.workflows import StepBusy, WorkflowRun, run_workflow, tree_usage

    fence = Fence(execution_id, attempt, settings.execution_lease_s)
    events = EventLog(execution_id=execution_id, session_id=session_id)
    run = WorkflowRun(
        parent_id=execution_id,
        user_id=user_id,
        mode=mode,
        definition=definition,
        settings=settings,
        deadline=started_at + timedelta(seconds=definition.limits.timeout_s),
        hold=fence.hold,
        events=events,
        lock=threading.Lock(),
    )
    try:
        status, output, error = run_workflow(run, raw_input)
    except LeaseLost:
        return None
    except StepBusy:
        # a step is still held by an earlier delivery: let the queue bring this one back
        return RunOutcome(
            "failed",
            retryable=True,
            error={"code": "step_busy", "message": "a step is still running elsewhere"},
        )
    outcome = RunOutcome(
        status,  # type: ignore[arg-type]
        output=output,
        error=error,
        usage=tree_usage(execution_id),
    )
    return _finished(fence, events, outcome, settings, webhook_url, TraceInfo(trace_id, started_at))


def _finished(
    fence: Fence,
    events: EventLog,
    outcome: RunOutcome,
    settings: Settings,
    webhook_url: str | None,
    trace: TraceInfo,
) -> RunOutcome | None:
    """`finish`, then the outcome; None when another delivery took the run over meanwhile."""
    try:
        finish(fence, events, outcome, settings, webhook_url=webhook_url, trace=trace)
    except LeaseLost:
        return None
    return outcome


def _run(
    definition: AgentDefinition,
    *,
    agent_version: tuple[uuid.UUID, str],
    settings: Settings,
    execution_id: uuid.UUID,
    session_id: uuid.UUID | None,
    prompt: str | None,
    user_id: uuid.UUID,
    history: list[ModelMessage],
    resumed: list[ModelMessage],
    recorder: DurableRecorder,
    timeout_s: float,
    usage_so_far: Usage,
) -> RunOutcome:
    from core.agents.factory import RunDeps, agent_of_version
    from core.agents.loop import run_on_agent_loop
    from core.agents.providers import ProviderNotConfigured
    from core.agents.runner import RunAbandoned, RunOutcome, run_agent
    from core.storage.workspace import workspace_for
    from core.tools.workspace import LocalWorkspace

    try:
        built = agent_of_version(agent_version, definition, settings)
    except ProviderNotConfigured as exc:
        return RunOutcome("failed", error={"code": "provider_not_configured", "message": str(exc)})
    workspace = workspace_for(settings, session_id=session_id, execution_id=execution_id)
    deps = RunDeps(
        workspace=workspace,
        repo=(
            LocalWorkspace(settings.repo_root, name="repo", writable=False)
            if settings.repo_root
            else None
        ),
    )
    deps.delegate = _delegator(user_id, deps, settings)
    try:
        outcome = run_on_agent_loop(
            run_agent(
                built,
                prompt,
                deps=deps,
                limits=definition.limits,
                observer=recorder,
                message_history=history,
                timeout_s=timeout_s,
                usage_so_far=usage_so_far,
                heartbeat_s=max(1.0, settings.execution_lease_s / 3),
            )
        )
    except RunAbandoned:
        raise
    except Exception:
        log.exception("execution %s crashed", execution_id)
        return RunOutcome(
            "failed", error={"code": "internal_error", "message": "the run failed unexpectedly"}
        )
    # what this run added comes after what an earlier attempt had already saved
    outcome.messages = [*resumed, *outcome.messages]
    return outcome


def _delegator(user_id: uuid.UUID, parent: Any, settings: Settings) -> Any:
    """What the `delegate` tool calls: run another agent the user may execute, inside this run
    (same workspace, one level deeper), counting its usage into the parent's (`usage`)."""

    async def delegate(agent_id: str, prompt: str, usage: Any, max_depth: int) -> Any:
        from pydantic_ai import ModelRetry

        from core.agents.factory import RunDeps, build_agent

        definition = await asyncio.to_thread(_delegate_definition, user_id, agent_id)
        if definition is None:
            raise ModelRetry(f"agent {agent_id} is missing or you may not execute it")
        if definition.workflow is not None:
            raise ModelRetry(f"agent {agent_id} is a workflow: delegate to single agents only")
        child = build_agent(definition, settings)
        deps = RunDeps(workspace=parent.workspace, repo=parent.repo, depth=parent.depth + 1)
        deps.delegate = _delegator(user_id, deps, settings)
        result = await child.run(prompt, deps=deps, usage=usage)
        return result.output

    return delegate


def _delegate_definition(user_id: uuid.UUID, agent_id: str) -> AgentDefinition | None:
    from core.db import transaction
    from core.errors import DomainError
    from core.models.users import User
    from core.services.agent_access import Access, agent_for

    with transaction() as db:
        user = db.get(User, user_id)
        try:
            assert user is not None
            agent = agent_for(db, user, uuid.UUID(agent_id), Access.execute)
        except (DomainError, ValueError):
            return None
        return AgentDefinition.model_validate(agent.definition)


def finish(
    fence: Fence,
    events: EventLog,
    outcome: RunOutcome,
    settings: Settings,
    *,
    webhook_url: str | None = None,
    trace: TraceInfo | None = None,
) -> None:
    """Record the terminal status (fenced), the last events and, for a conversation turn that
    succeeded, the session's history. Then hand a webhook, if any, to the task queue."""
    from pydantic_ai.messages import ModelMessagesTypeAdapter

    from core.db import core_transaction, then_commit, transaction
    from core.services.artifacts import written_paths

    pending = list(outcome.pending_events)
    if outcome.error is not None:
        pending.append((EventType.error, outcome.error))
    pending.append((EventType.status, {"status": outcome.status}))
    messages = ModelMessagesTypeAdapter.dump_python(outcome.messages, mode="json")
    outcome.finished_at = utcnow()
    if trace is not None:
        outcome.trace_id = trace.trace_id
    written = written_paths(outcome.messages)
    # recording written files adds ORM objects; everything else is Core statements
    with transaction() if written else core_transaction() as db:
        fence.hold(
            db,
            events=events.rows(db, pending),
            trace=None if trace is None else _trace_row(trace, outcome),
            commit=None if written else then_commit(),
            status=ExecutionStatus(outcome.status),
            output=outcome.output,
            error=outcome.error,
            messages=messages,
            **outcome.usage.columns(),
            finished_at=outcome.finished_at,
            **({"trace_id": trace.trace_id} if trace else {}),
        )
        if written:
            assert isinstance(db, Session)
            _record_written_files(db, fence.execution_id, events.session_id, written, settings)
    if webhook_url:
        enqueue_webhook(fence.execution_id, settings)


def _trace_row(trace: TraceInfo, outcome: RunOutcome) -> dict[str, Any]:
    """The execution's ObservabilityTrace row: its spans so far (when tracing is on), tokens,
    latency and error."""
    from core import telemetry

    finished = outcome.finished_at or utcnow()
    return {
        "id": uuid.uuid4(),
        "trace_id": trace.trace_id,
        "spans": telemetry.span_summary(trace.trace_id),
        "total_tokens": outcome.usage.total_tokens,
        "latency_ms": max(0, int((finished - trace.started_at).total_seconds() * 1000)),
        "error": (outcome.error or {}).get("message"),
    }


def _record_written_files(
    db: Session,
    execution_id: uuid.UUID,
    session_id: uuid.UUID | None,
    paths: list[str],
    settings: Settings,
) -> None:
    """Files the run wrote with file_write become artifacts of the execution (and session)."""
    from core.services.artifacts import record_workspace_files
    from core.storage import get_artifact_store
    from core.storage.workspace import workspace_for

    user_id = db.scalar(select(AgentExecution.user_id).where(AgentExecution.id == execution_id))
    assert user_id is not None
    record_workspace_files(
        db,
        store=get_artifact_store(settings),
        settings=settings,
        user_id=user_id,
        session_id=session_id,
        execution_id=execution_id,
        workspace=workspace_for(settings, session_id=session_id, execution_id=execution_id),
        paths=paths,
    )


def release_lease(execution_id: uuid.UUID, attempt: int) -> None:
    """This delivery gives the run up (it failed unexpectedly): its lease ends now, so the
    queue's retry claims it at once instead of waiting the lease out. Fenced: a run another
    delivery owns is left alone."""
    from core.db import transaction

    with transaction() as db:
        db.execute(
            update(AgentExecution)
            .where(
                AgentExecution.id == execution_id,
                AgentExecution.attempt == attempt,
                AgentExecution.status == ExecutionStatus.running,
            )
            .values(lease_expires_at=utcnow())
        )


def release_for_retry(fence: Fence, events: EventLog, outcome: RunOutcome) -> None:
    """A transient failure: keep the progress, free the lease so the retry can claim at once."""
    from pydantic_ai.messages import ModelMessagesTypeAdapter

    from core.db import transaction

    with transaction() as db:
        fence.hold(
            db,
            events=events.rows(
                db,
                [
                    *outcome.pending_events,
                    (EventType.status, {"status": "retrying", **(outcome.error or {})}),
                ],
            ),
            messages=ModelMessagesTypeAdapter.dump_python(outcome.messages, mode="json"),
            **outcome.usage.columns(),
        )
        db.execute(
            update(AgentExecution)
            .where(AgentExecution.id == fence.execution_id, AgentExecution.attempt == fence.attempt)
            .values(lease_expires_at=utcnow())
        )


def enqueue_execution(
    execution_id: uuid.UUID, attempt: int, settings: Settings, *, suffix: str = ""
) -> None:
    from core.tasks.queue import Task, get_task_queue

    get_task_queue(settings).enqueue(
        Task(
            path=f"/tasks/executions/{execution_id}",
            name=f"exec-{execution_id}-{attempt}" + (f"-{suffix}" if suffix else ""),
            payload={"execution_id": str(execution_id)},
        )
    )


def enqueue_webhook(execution_id: uuid.UUID, settings: Settings) -> None:
    from core.tasks.queue import Task, get_task_queue

    try:
        get_task_queue(settings).enqueue(
            Task(
                path=f"/tasks/webhooks/{execution_id}",
                name=f"hook-{execution_id}",
                payload={"execution_id": str(execution_id)},
            )
        )
    except Exception:  # the run is recorded; a lost webhook must not fail it
        log.exception("could not enqueue the webhook of execution %s", execution_id)


def _messages(raw: list[Any]) -> list[ModelMessage]:
    if not raw:
        return []
    from pydantic_ai.messages import ModelMessagesTypeAdapter

    return list(ModelMessagesTypeAdapter.validate_python(raw))


def _prompt(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
