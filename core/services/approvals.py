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

from core.errors import Conflict, Invalid, NotFound, field_error
from core.models.agents import Agent
from core.models.executions import AgentExecution, ExecutionStatus
from core.models.sessions import EventType
from core.models.users import Role, User
from core.runs.backends import Backends
from core.runs.events import EventLog
from core.runs.queueing import enqueue_execution
from core.schemas.executions import ApprovalsRequest
from core.services.agent_access import Access, access_of


def decide_approvals(
    db: Session,
    *,
    user: User,
    execution_id: uuid.UUID,
    data: ApprovalsRequest,
    backends: Backends,
) -> AgentExecution:
    execution = db.scalar(
        select(AgentExecution).where(AgentExecution.id == execution_id).with_for_update()
    )
    if execution is None or not _may_decide(db, user, execution):
        raise NotFound("no such execution", code="execution_not_found")
    if execution.status != ExecutionStatus.waiting_approval:
        raise Conflict(
            f"the execution is not waiting for approvals ({execution.status.value})"
            + ("; its calls were decided already" if execution.approval_decisions else ""),
            code="not_waiting_approval",
        )
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
    requested = min(datetime.fromisoformat(c["requested_at"]) for c in pending.values())
    execution.status = ExecutionStatus.queued
    execution.approval_decisions = decisions
    execution.pending_approvals = None
    execution.approval_expires_at = None
    execution.approval_wait_s = (execution.approval_wait_s or 0.0) + max(
        0.0, (now - requested).total_seconds()
    )
    execution.attempt_base = execution.attempt  # deliveries count anew from here
    execution.updated_at = now
    EventLog(execution_id=execution.id, session_id=execution.session_id).add(
        db,
        [
            *((EventType.approval_decided, {"tool_call_id": i, **d}) for i, d in decisions.items()),
            (EventType.status, {"status": ExecutionStatus.queued.value}),
        ],
    )
    db.commit()  # the decision is durable before a delivery may look for it
    enqueue_execution(backends, execution.id, execution.attempt + 1, suffix="decided")
    return execution


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
