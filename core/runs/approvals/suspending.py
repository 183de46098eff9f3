"""How a run stops for a person (`suspend`), how decisions reach the resumed run
(`deferred_results`), how a workflow learns its step may go on (`wake_parent`) and how a wait
nobody decided ends (`expire_undecided`). The whole story: core.runs.approvals."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from core.models.executions import ExecutionStatus
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
    parent_id: uuid.UUID | None = None,
) -> None:
    """Save the run `waiting_approval` (fenced), without a lease: nothing runs it until a
    decision or the expiry. Then queue its webhook, if any. A workflow's step that waits again
    after a decision (its workflow still waiting on it) makes the workflow wait on the new
    calls too, with its own webhook."""
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
    if parent_id is not None:
        woken = backends.store.rewait_parent(fence.execution_id, pending, expires_at)
        if woken is not None and woken[1]:
            suffix = f"approval-{fence.execution_id.hex[:8]}-{fence.attempt}"
            enqueue_webhook(backends, woken[0], suffix=suffix)


def wake_parent(backends: Backends, child_id: uuid.UUID) -> None:
    woken = backends.store.wake_parent(child_id)
    if woken is not None:
        parent_id, attempt = woken
        enqueue_execution(backends, parent_id, attempt + 1, suffix="woken")


def expire_undecided(backends: Backends) -> int:
    """End the waits past their deadline (the sweeper's): each run ends `cancelled`
    (approval_expired),
    its webhook goes, and a workflow waiting on it ends too. Returns how many ended."""
    expired, hooks = backends.store.expire_waits()
    for execution_id in hooks:
        enqueue_webhook(backends, execution_id)
    for execution_id in expired:
        wake_parent(backends, execution_id)
    return len(expired)
