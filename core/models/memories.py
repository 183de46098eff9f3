"""Memories: durable facts an agent keeps about the person who talks to it. A memory belongs to
that person (never to the agent's owner) and to one agent."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, created_at, str_enum, updated_at, uuid_pk


class MemorySource(enum.StrEnum):
    api = "api"  # written by the person through the API or the console
    tool = "tool"  # saved by the agent with memory_save
    extracted = "extracted"  # proposed by the agent's model after a turn


class Memory(Base):
    __tablename__ = "memories"
    __table_args__ = (
        Index("ix_memories_user_id_agent_id_updated_at", "user_id", "agent_id", "updated_at", "id"),
        Index("ix_memories_agent_id", "agent_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[MemorySource] = mapped_column(str_enum(MemorySource, "memory_source"))
    # the run it came from (a tool call or an extraction), if any
    execution_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
