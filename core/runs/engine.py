"""Carrying one claimed execution to a terminal status, at least once and never twice: load what
it needs (or take what its creator holds), run its agent or its workflow, and record how it
ended. A cancel request is noticed at the next step."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from core.agents.definition import AgentDefinition
from core.clock import utcnow
from core.config import Settings
from core.models.agents import AgentVersion
from core.models.executions import AgentExecution, ExecutionMode
from core.runs.agent_step import run_agent_step
from core.runs.events import EventLog
from core.runs.execution_rows import LeaseLost
from core.runs.fresh import FreshRun
from core.runs.leases import Fence
from core.runs.progress import DurableRecorder, TraceInfo, finish, release_for_retry
from core.runs.session_history import session_history as history_of_session
from core.runs.usage import Usage

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage

    from core.agents.runner import RunOutcome

log = logging.getLogger(__name__)


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
        outcome = run_agent_step(
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
    mode: ExecutionMode,
    session_id: uuid.UUID | None,
    retry_transient: bool,
    webhook_url: str | None,
    trace_id: str,
) -> RunOutcome | None:
    import threading

    from core.agents.runner import RunOutcome
    from core.runs.tree import tree_usage
    from core.runs.workflow_steps import StepBusy, WorkflowRun, run_workflow

    fence = Fence(execution_id, attempt, settings.execution_lease_s)
    events = EventLog(execution_id=execution_id, session_id=session_id)
    run = WorkflowRun(
        parent_id=execution_id,
        user_id=user_id,
        mode=mode,
        definition=definition,
        settings=settings,
        deadline=started_at + timedelta(seconds=definition.limits.timeout_s),
        write=fence.write,
        events=events,
        lock=threading.Lock(),
        run_claimed=run_claimed,
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


def _messages(raw: list[Any]) -> list[ModelMessage]:
    if not raw:
        return []
    from pydantic_ai.messages import ModelMessagesTypeAdapter

    return list(ModelMessagesTypeAdapter.validate_python(raw))


def _prompt(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
