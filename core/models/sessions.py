from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, created_at, str_enum, updated_at, uuid_pk


class SessionStatus(enum.StrEnum):
    active = "active"
    archived = "archived"


class EventType(enum.StrEnum):
    user_message = "user_message"
    model_response = "model_response"
    tool_call = "tool_call"
    tool_result = "tool_result"
    status = "status"
    error = "error"
    approval_requested = "approval_requested"
    approval_decided = "approval_decided"
    # an MCP server left out of the run (its credential may not go to its host)
    mcp_server_skipped = "mcp_server_skipped"
    # an A2A agent left out of the run, for the same reason
    a2a_agent_skipped = "a2a_agent_skipped"
    # older turns folded into the session's running summary (core.runs.context_budget)
    context_summarized = "context_summarized"
    # durable facts drawn from a turn into the caller's memories
    memory_extracted = "memory_extracted"


class AgentSession(Base):
    """A conversation with one agent. Named AgentSession so it never shadows the ORM Session."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_user_id_created_at", "user_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    agent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agents.id", ondelete="RESTRICT"), index=True
    )
    title: Mapped[str] = mapped_column(String(200), default="", server_default="")
    state: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'::jsonb"))
    status: Mapped[SessionStatus] = mapped_column(
        str_enum(SessionStatus, "session_status"), default=SessionStatus.active
    )
    # what the model is told of the first `summary_turns` succeeded turns instead of them, once
    # the definition's context budget folded them (core.runs.context_budget)
    summary: Mapped[str] = mapped_column(Text, default="", server_default="")
    summary_turns: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # the conversation itself is the messages of the session's succeeded turns, in turn order
    # (agent_executions.messages; core.runs.session_history)
    # the last seq handed to an event of this session
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Event(Base):
    """One entry of a session's (or a session-less execution's) ordered log."""

    __tablename__ = "events"
    __table_args__ = (
        Index("uq_events_session_id_seq", "session_id", "seq", unique=True),
        Index("uq_events_execution_id_seq", "execution_id", "seq", unique=True),
        CheckConstraint("session_id IS NOT NULL OR execution_id IS NOT NULL", name="has_owner"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE")
    )
    execution_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_executions.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[EventType] = mapped_column(str_enum(EventType, "event_type"))
    payload: Mapped[dict[str, Any]] = mapped_column(
        default=dict, server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[datetime] = created_at()


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (
        Index("ix_artifacts_user_id_created_at", "user_id", "created_at", "id"),
        Index("ix_artifacts_session_id_created_at", "session_id", "created_at"),
        Index("ix_artifacts_execution_id", "execution_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # the service deletes the stored object before the row goes with its session
    session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE")
    )
    execution_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_executions.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(1024))
    content_type: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(1200), unique=True)
    created_at: Mapped[datetime] = created_at()
