"""Carrying one claimed execution to a terminal status, at least once and never twice: load what
it needs (or take what its creator holds), run its agent or its workflow, and record how it
ended. A cancel request is noticed at the next step."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from core.runs.agent_step import run_agent_step
from core.runs.approvals.suspending import wake_parent
from core.runs.backends import Backends
from core.runs.execution_rows import LeaseLost
from core.runs.leases import Fence
from core.runs.progress import DurableRecorder, TraceInfo, finish, release_for_retry
from core.runs.prompts import user_prompt
from core.runs.quotas import cost_limit_of, unpriced_refusal
from core.runs.store import RunInputs

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage

    from core.agents.runner import RunOutcome
    from core.runs.events import EventLog

log = logging.getLogger(__name__)


def run_claimed(
    execution_id: uuid.UUID,
    attempt: int,
    backends: Backends,
    *,
    retry_transient: bool = False,
    inputs: RunInputs | None = None,
) -> RunOutcome | None:
    """Run (or resume) an execution this caller has claimed under `attempt`, and record how it
    ended. `inputs`: what its creator holds (else they are loaded). Returns None when the run
    was abandoned to another delivery; never raises for a failed run. With `retry_transient`,
    a transient model failure keeps the run open for another delivery (the outcome says
    `retryable`) instead of failing it."""
    from core import telemetry

    settings = backends.settings
    with telemetry.span(
        settings, "agent execution", execution_id=execution_id, attempt=attempt
    ) as trace_id:
        fence = Fence(execution_id, attempt, settings.execution_lease_s)
        try:
            return _run(fence, backends, retry_transient, inputs, trace_id)
        except Exception as exc:
            if inputs is None:  # a delivery: the queue brings it back
                raise
            from core.db.availability import database_unavailable

            if database_unavailable(exc):
                # a sync run that lost its database: not failed, it goes on from what it saved
                # once its lease runs out (a delivery is queued for then); its caller hears so
                _hand_over(backends, fence)
                from core.errors import RunGoesOn

                raise RunGoesOn(execution_id) from exc
            # the caller of a sync run is answered with the failed run, never a 500 that
            # leaves it running
            log.exception("execution %s crashed", execution_id)
            from core.agents.runner import RunOutcome

            outcome = RunOutcome(
                "failed",
                error={"code": "internal_error", "message": "the run failed unexpectedly"},
            )
            return _finished(
                backends,
                fence,
                inputs.events,
                outcome,
                inputs.webhook_url,
                TraceInfo(trace_id, inputs.started_at),
            )


def _hand_over(backends: Backends, fence: Fence) -> None:
    """Leave the run to a delivery: give the lease up if the database lets us, and queue one
    (it waits out a lease it could not give up)."""
    from core.runs.queueing import enqueue_execution

    try:
        backends.store.release_lease(fence.execution_id, fence.attempt)
    except Exception:
        log.warning("execution %s keeps its lease until it runs out", fence.execution_id)
    try:
        enqueue_execution(backends, fence.execution_id, fence.attempt + 1, suffix="resume")
    except Exception:  # the sweeper finds it once its lease has run out
        log.warning("execution %s waits for the sweeper", fence.execution_id)


def _run(
    fence: Fence,
    backends: Backends,
    retry_transient: bool,
    inputs: RunInputs | None,
    trace_id: str,
) -> RunOutcome | None:
    from core.agents.runner import RunAbandoned

    run = inputs or backends.store.load(fence.execution_id)
    trace = TraceInfo(trace_id, run.started_at)
    if run.definition.workflow is not None:
        return _run_workflow(fence, backends, run, retry_transient, trace)
    from core.runs.approvals.suspending import deferred_results, suspend

    saved = messages_of(run.saved_messages)
    recorder = DurableRecorder(fence, run.events, backends.store, resumed=saved)
    # time spent waiting for a person's decisions does not count against the timeout
    elapsed = (backends.clock.now() - run.started_at).total_seconds() - run.approval_wait_s
    limits, left = run.definition.limits, run.tokens_left_today
    clamped = left is not None and left < limits.max_total_tokens
    if left is not None and clamped:
        limits = limits.model_copy(update={"max_total_tokens": max(1, left)})
    unpriced = unpriced_refusal(run.definition, run.cost_left_today)
    try:
        outcome = unpriced or run_agent_step(
            run.definition,
            backends,
            agent_version=run.agent_version,
            execution_id=fence.execution_id,
            session_id=run.session_id,
            prompt=None
            if saved
            else user_prompt(run.raw_input, backends, run.user_id, run.definition),
            user_id=run.user_id,
            history=[*run.session_history, *saved],
            resumed=saved,
            recorder=recorder,
            timeout_s=run.definition.limits.timeout_s - elapsed,
            usage_so_far=run.usage,
            limits=limits,
            decisions=deferred_results(run.approval_decisions, saved),
            approval_marks={
                call_id: str(decision.get("decided_at", ""))
                for call_id, decision in (run.approval_decisions or {}).items()
                if decision.get("approved")
            },
            on_event=run.on_event,
            cost_limit=cost_limit_of(run.definition, run.cost_left_today),
        )
    except RunAbandoned:
        log.info("execution %s attempt %s lost its lease", fence.execution_id, fence.attempt)
        return None
    outcome.pending_events = recorder.pending
    error = outcome.error or {}
    if error.get("code") == "limit_exceeded" and "cost_limit" in error.get("message", ""):
        outcome.error = {
            "code": "quota_exceeded",
            "message": f"the run stopped at today's cost budget: {run.cost_left_today} USD "
            "were left of it when it started (it resets at 00:00 UTC)",
        }
    elif clamped and error.get("code") == "limit_exceeded":
        outcome.error = {
            "code": "quota_exceeded",
            "message": f"the run stopped at today's token budget: {run.tokens_left_today} tokens "
            "were left of it when it started (it resets at 00:00 UTC)",
        }
    settings = backends.settings
    if outcome.retryable and retry_transient and fence.attempt < settings.execution_max_attempts:
        try:
            release_for_retry(backends.store, fence, run.events, outcome)
        except LeaseLost:
            return None
        return outcome
    outcome.retryable = False
    if outcome.status == "waiting_approval":
        try:
            suspend(
                backends,
                fence,
                run.events,
                outcome,
                webhook_url=run.webhook_url,
                parent_id=run.parent_id,
            )
        except LeaseLost:
            return None
        return outcome
    finished = _finished(backends, fence, run.events, outcome, run.webhook_url, trace)
    memory = run.definition.memory
    extracts = memory.enabled and memory.extract and run.session_id is not None
    if extracts and finished is not None and finished.status == "succeeded":
        from core.runs.queueing import enqueue_memory_extraction

        enqueue_memory_extraction(backends, fence.execution_id)
    if finished is not None and run.eval_id is not None:
        from core.runs.queueing import enqueue_eval

        enqueue_eval(backends, run.eval_id, after_case=True)
    if finished is not None and run.parent_id is not None and run.approval_decisions:
        # a workflow step resumed after approvals: its workflow waits for it
        wake_parent(backends, fence.execution_id)
    return finished


def _run_workflow(
    fence: Fence,
    backends: Backends,
    run: RunInputs,
    retry_transient: bool,
    trace: TraceInfo,
) -> RunOutcome | None:
    from core.agents.runner import RunOutcome
    from core.runs.approvals.suspending import suspend
    from core.runs.workflow_steps import StepBusy, StepsWaiting, WorkflowRun, run_workflow

    workflow = WorkflowRun(
        fence=fence,
        user_id=run.user_id,
        mode=run.mode,
        definition=run.definition,
        backends=backends,
        # time spent waiting for a person's decisions does not count
        deadline=run.started_at
        + timedelta(seconds=run.definition.limits.timeout_s + run.approval_wait_s),
        events=run.events,
        lock=threading.Lock(),
        run_claimed=run_claimed,
    )
    try:
        status, output, error = run_workflow(workflow, run.raw_input)
    except LeaseLost:
        return None
    except StepsWaiting as waiting:
        outcome = RunOutcome(
            "waiting_approval",
            usage=backends.store.tree_usage(fence.execution_id),
            pending_approvals=backends.store.pending_approvals_of(waiting.execution_ids),
        )
        try:
            suspend(backends, fence, run.events, outcome, webhook_url=run.webhook_url)
        except LeaseLost:
            return None
        return outcome
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
        usage=backends.store.tree_usage(fence.execution_id),
    )
    return _finished(backends, fence, run.events, outcome, run.webhook_url, trace)


def _finished(
    backends: Backends,
    fence: Fence,
    events: EventLog,
    outcome: RunOutcome,
    webhook_url: str | None,
    trace: TraceInfo,
) -> RunOutcome | None:
    """`finish`, then the outcome; None when another delivery took the run over meanwhile."""
    try:
        finish(backends, fence, events, outcome, webhook_url=webhook_url, trace=trace)
    except LeaseLost:
        return None
    return outcome


def messages_of(raw: list[Any] | None) -> list[ModelMessage]:
    """A run's stored messages (JSON) as pydantic-ai's."""
    if not raw:
        return []
    from pydantic_ai.messages import ModelMessagesTypeAdapter

    return list(ModelMessagesTypeAdapter.validate_python(raw))
