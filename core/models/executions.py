from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, created_at, str_enum, updated_at, uuid_pk


class ExecutionStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    timed_out = "timed_out"
    # stopped at tool calls a person must approve or deny; nobody holds it meanwhile
    waiting_approval = "waiting_approval"

    @property
    def is_terminal(self) -> bool:
        return self not in (
            ExecutionStatus.queued,
            ExecutionStatus.running,
            ExecutionStatus.waiting_approval,
        )


class WorkflowType(enum.StrEnum):
    single = "single"
    sequential = "sequential"
    parallel = "parallel"
    loop = "loop"


class ExecutionMode(enum.StrEnum):
    sync = "sync"
    async_ = "async"


class AgentExecution(Base):
    __tablename__ = "agent_executions"
    __table_args__ = (
        Index("ix_agent_executions_user_id_created_at", "user_id", "created_at", "id"),
        Index("ix_agent_executions_agent_id_created_at", "agent_id", "created_at"),
        Index("ix_agent_executions_session_id_created_at", "session_id", "created_at"),
        Index("ix_agent_executions_status_lease", "status", "lease_expires_at"),
        Index("ix_agent_executions_parent_execution_id", "parent_execution_id"),
        Index(
            "ix_agent_executions_eval_id",
            "eval_id",
            postgresql_where=text("eval_id IS NOT NULL"),
        ),
        # the same idempotency key from the same user names the same execution
        Index(
            "uq_agent_executions_user_idempotency_key",
            "user_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        # a session's turns never overlap: the start of a turn checks it as it inserts
        Index(
            "uq_agent_executions_one_active_turn",
            "session_id",
            unique=True,
            postgresql_where=text(
                "session_id IS NOT NULL AND status IN ('queued', 'running', 'waiting_approval')"
            ),
        ),
        # the sweeper's search for approvals nobody decided in time
        Index(
            "ix_agent_executions_approval_expires_at",
            "approval_expires_at",
            postgresql_where=text("status = 'waiting_approval'"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # agents are soft-deleted, so their runs stay readable
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="RESTRICT"))
    agent_version: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL")
    )
    parent_execution_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_executions.id", ondelete="CASCADE")
    )
    step_index: Mapped[int | None]
    iteration: Mapped[int | None]
    status: Mapped[ExecutionStatus] = mapped_column(
        str_enum(ExecutionStatus, "execution_status"), default=ExecutionStatus.queued
    )
    workflow_type: Mapped[WorkflowType] = mapped_column(
        str_enum(WorkflowType, "workflow_type"), default=WorkflowType.single
    )
    mode: Mapped[ExecutionMode] = mapped_column(
        str_enum(ExecutionMode, "execution_mode"), default=ExecutionMode.sync
    )
    input: Mapped[Any] = mapped_column(JSONB, nullable=True, default=None)
    output: Mapped[Any] = mapped_column(JSONB, nullable=True, default=None)
    error: Mapped[dict[str, Any] | None]
    # the pydantic-ai message history so far (durable resume)
    messages: Mapped[list[Any]] = mapped_column(default=list, server_default=text("'[]'::jsonb"))
    requests: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    input_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    output_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    tool_calls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 6))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # the schedule that started it (kept as history when the schedule is deleted)
    schedule_id: Mapped[uuid.UUID | None]
    # the eval run it is a case of (core.evals; no foreign key, like schedule_id)
    eval_id: Mapped[uuid.UUID | None]
    webhook_url: Mapped[str | None] = mapped_column(Text)
    # at-least-once delivery: each claim bumps attempt; later writes are fenced by it
    attempt: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lease_expires_at: Mapped[datetime | None]
    # the process holding the lease (core.runs.leases.lease_holder): a restarted `make dev`
    # ends the leases its dead predecessor held at once instead of waiting them out
    lease_holder: Mapped[str | None] = mapped_column(String(80))
    cancel_requested_at: Mapped[datetime | None]
    # approvals: the calls waiting for a decision [{tool_call_id, tool_name, args,
    # requested_at}], the decisions the resumed run applies {tool_call_id: {approved, reason,
    # by, at}}, and when the wait ends `approval_expired`
    pending_approvals: Mapped[list[Any] | None] = mapped_column(JSONB, nullable=True)
    approval_decisions: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    approval_expires_at: Mapped[datetime | None]
    waiting_since: Mapped[datetime | None]  # when the current wait for decisions began
    # time spent waiting for decisions: it does not count against limits.timeout_s
    approval_wait_s: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # the attempt a decision resumed the run at: limits on deliveries count from there
    attempt_base: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    trace_id: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class ObservabilityTrace(Base):
    __tablename__ = "observability_traces"

    id: Mapped[uuid.UUID] = uuid_pk()
    execution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agent_executions.id", ondelete="CASCADE"), index=True
    )
    trace_id: Mapped[str] = mapped_column(String(32), index=True)
    spans: Mapped[list[Any]] = mapped_column(default=list, server_default=text("'[]'::jsonb"))
    total_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    latency_ms: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()


class ToolCallState(enum.StrEnum):
    # recorded before the tool runs, by the attempt that runs it
    started = "started"
    # its outcome is kept: a redelivery gives it back instead of running the tool again
    finished = "finished"
    # it needed a person's approval and was interrupted: the approver was asked again
    reasked = "reasked"


class ToolCallRecord(Base):
    """One tool call of a run, recorded as it starts and as it returns (core.runs.tool_journal):
    a crash between the two leaves `started`, which tells the next attempt the call may or may
    not have taken effect."""

    __tablename__ = "tool_calls"

    execution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agent_executions.id", ondelete="CASCADE"), primary_key=True
    )
    tool_call_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    tool_name: Mapped[str] = mapped_column(String(200))
    state: Mapped[ToolCallState] = mapped_column(str_enum(ToolCallState, "tool_call_state"))
    attempt: Mapped[int] = mapped_column(Integer)
    # {"kind": "return" | "retry" | "interrupted", "content": ...}
    outcome: Mapped[dict[str, Any] | None]
    # the decision (its decided_at) an approval-required call ran under
    approval_mark: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
