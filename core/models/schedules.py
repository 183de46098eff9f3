"""Schedules: an agent run by cron on behalf of its owner (core.services.schedules)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, created_at, updated_at, uuid_pk


class Schedule(Base):
    __tablename__ = "schedules"
    __table_args__ = (
        Index("ix_schedules_agent_id_created_at", "agent_id", "created_at", "id"),
        Index("ix_schedules_user_id", "user_id"),
        # the sweeper's search for due slots
        Index("ix_schedules_next_run_at", "next_run_at", postgresql_where=text("enabled")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    # a turn of this session each time (no foreign key: a session deleted stops the schedule
    # with that reason, rather than silently running outside it)
    session_id: Mapped[uuid.UUID | None]
    cron: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64))
    input: Mapped[Any] = mapped_column(JSONB)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # the next slot to run; null while paused or stopped
    next_run_at: Mapped[datetime | None]
    last_run_at: Mapped[datetime | None]  # the last slot started
    last_execution_id: Mapped[uuid.UUID | None]
    # {code, message, at, slot} of the last slot that could not start (a quota, a busy session)
    last_error: Mapped[dict[str, Any] | None]
    # {code, message, at}: why the service stopped the schedule (its owner can no longer run
    # the agent); cleared when the owner enables it again
    stopped_reason: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
