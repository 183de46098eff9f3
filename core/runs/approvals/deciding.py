"""A person's decisions on the tool calls a run waits on (POST /executions/{id}/approvals).

The run's owner, an editor of its agent, or an admin decides every pending call in one request;
anyone else is told the run does not exist. The decisions are stored with the run set `queued`
(one locked read and write: of two concurrent requests the second finds nothing waiting, 409),
events `approval_decided` record who decided what, when and why, and the run is enqueued after
the commit (a crash before the enqueue leaves a queued run the sweeper enqueues again)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.access.agents import Access, access_of
from core.errors import Conflict, Invalid, NotFound, field_error
from core.models.agents import Agent
from core.models.executions import AgentExecution, ExecutionStatus, WorkflowType
from core.models.sessions import EventType
from core.models.users import Role, User
from core.runs.backends import Backends
from core.runs.events import EventLog
from core.runs.queueing import enqueue_execution
from core.schemas.executions import ApprovalsRequest


def decide_approvals(
    db: Session,
    *,
    user: User,
    execution_id: uuid.UUID,
    data: ApprovalsRequest,
    backends: Backends,
) -> AgentExecution:
    """Apply the decisions to the run (a workflow's: to the steps that wait, each call to its
    own), then enqueue every run that resumes. Rows are locked workflow first, then its steps,
    whichever level is decided (the same order everywhere: no deadlock between the two)."""
    parent_id = db.scalar(
        select(AgentExecution.parent_execution_id).where(AgentExecution.id == execution_id)
    )
    if parent_id is not None:
        _locked(db, parent_id)
    execution = _locked(db, execution_id)
    if execution is None or not _may_decide(db, user, execution):
        raise NotFound("no such execution", code="execution_not_found")
    _check_waiting(execution)
    pending = {call["tool_call_id"]: call for call in execution.pending_approvals or []}
    _check_covers(data, pending)
    now = backends.clock.now()
    decisions = {
        d.tool_call_id: {
            "tool_name": pending[d.tool_call_id]["tool_name"],
            "approved": d.approved,
            "reason": d.reason,
            "decided_by": str(user.id),
            "decided_by_username": user.username,
            "decided_at": now.isoformat(),
        }
        for d in data.decisions
    }
    if execution.workflow_type == WorkflowType.single:
        resumed = [_resume(db, execution, decisions, now)]
        _forget_at_parent(db, execution, decisions)
    else:  # each call goes to the step that waits on it; the workflow waits for the steps
        by_step: dict[str, dict[str, Any]] = {}
        for call_id, decision in decisions.items():
            by_step.setdefault(pending[call_id]["execution_id"], {})[call_id] = decision
        resumed = []
        for step_id, step_decisions in sorted(by_step.items()):
            step = _locked(db, uuid.UUID(step_id))
            assert step is not None
            _check_waiting(step)
            resumed.append(_resume(db, step, step_decisions, now))
        _record(db, execution, decisions, status=None)
        # its steps run on: nothing waits for a person until one asks again (which sets it)
        execution.pending_approvals = []
        execution.approval_expires_at = None
    db.commit()  # the decisions are durable before a delivery may look for them
    for run in resumed:
        enqueue_execution(backends, run.id, run.attempt + 1, suffix="decided")
    return execution


def _locked(db: Session, execution_id: uuid.UUID) -> AgentExecution | None:
    return db.scalar(
        select(AgentExecution).where(AgentExecution.id == execution_id).with_for_update()
    )


def _check_waiting(execution: AgentExecution) -> None:
    if execution.status != ExecutionStatus.waiting_approval:
        raise Conflict(
            f"the execution is not waiting for approvals ({execution.status.value})"
            + ("; its calls were decided already" if execution.approval_decisions else ""),
            code="not_waiting_approval",
        )
    if not execution.pending_approvals:
        # a workflow whose steps' calls were all decided: they run on, and it waits for them
        raise Conflict(
            "the execution's calls were decided already; its steps are running",
            code="not_waiting_approval",
        )


def _resume(
    db: Session, execution: AgentExecution, decisions: dict[str, Any], now: datetime
) -> AgentExecution:
    """The run queued again with its decisions (what the resumed delivery applies)."""
    execution.status = ExecutionStatus.queued
    execution.approval_decisions = decisions
    execution.pending_approvals = None
    execution.approval_expires_at = None
    since = execution.waiting_since or now
    execution.approval_wait_s = (execution.approval_wait_s or 0.0) + max(
        0.0, (now - since).total_seconds()
    )
    execution.waiting_since = None
    execution.attempt_base = execution.attempt  # deliveries count anew from here
    execution.updated_at = now
    _record(db, execution, decisions, status=ExecutionStatus.queued)
    return execution


def _record(
    db: Session,
    execution: AgentExecution,
    decisions: dict[str, Any],
    *,
    status: ExecutionStatus | None,
) -> None:
    events: list[tuple[EventType, dict[str, Any]]] = [
        (EventType.approval_decided, {"tool_call_id": call_id, **decision})
        for call_id, decision in decisions.items()
    ]
    if status is not None:
        events.append((EventType.status, {"status": status.value}))
    EventLog(execution_id=execution.id, session_id=execution.session_id).add(db, events)


def _forget_at_parent(db: Session, step: AgentExecution, decisions: dict[str, Any]) -> None:
    """A step decided directly: its workflow no longer lists those calls as pending."""
    if step.parent_execution_id is None:
        return
    parent = _locked(db, step.parent_execution_id)  # locked already, before the step
    if parent is None or parent.status != ExecutionStatus.waiting_approval:
        return
    parent.pending_approvals = [
        call
        for call in parent.pending_approvals or []
        if not (call.get("execution_id") == str(step.id) and call["tool_call_id"] in decisions)
    ]
    if not parent.pending_approvals:
        parent.approval_expires_at = None


def _may_decide(db: Session, user: User, execution: AgentExecution) -> bool:
    if execution.user_id == user.id or user.role == Role.admin:
        return True
    agent = db.get(Agent, execution.agent_id)
    return agent is not None and access_of(db, user, agent) >= Access.edit


def _check_covers(data: ApprovalsRequest, pending: dict[str, Any]) -> None:
    """Each pending call decided exactly once, and nothing else."""
    problems: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, decision in enumerate(data.decisions):
        here: list[str | int] = ["body", "decisions", index, "tool_call_id"]
        if decision.tool_call_id not in pending:
            problems.append(field_error(here, "not a call this execution waits on", "unknown_call"))
        elif decision.tool_call_id in seen:
            problems.append(field_error(here, "decided twice in this request", "duplicate_call"))
        seen.add(decision.tool_call_id)
    missing = sorted(set(pending) - seen)
    if missing:
        problems.append(
            field_error(
                ["body", "decisions"],
                "every pending call must be decided in one request; missing: " + ", ".join(missing),
                "missing_calls",
            )
        )
    if problems:
        raise Invalid("the decisions do not match the pending calls", details=problems)
