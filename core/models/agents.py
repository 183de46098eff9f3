from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, created_at, str_enum, updated_at, uuid_pk


class AgentScope(enum.StrEnum):
    private = "private"  # the owner and users granted a permission
    public = "public"  # every signed-in user may read and execute
    system = "system"  # created by admins, visible to everyone


class AgentType(enum.StrEnum):
    single = "single"
    workflow = "workflow"


class AgentKind(enum.StrEnum):
    static = "static"  # defined in code (core/agents/builtin), owned by the system, read-only
    dynamic = "dynamic"  # made through the API
    template = "template"  # defined in code: what users start their own agents from


class PermissionLevel(enum.StrEnum):
    read = "read"
    execute = "execute"
    edit = "edit"


class Agent(Base):
    __tablename__ = "agents"
    __table_args__ = (
        # a name is unique per owner among agents that are not deleted
        Index(
            "uq_agents_owner_name_live",
            "owner_id",
            func.lower(text("name")),
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_agents_owner_id_created_at", "owner_id", "created_at"),
        Index("ix_agents_scope", "scope"),
        Index(
            "ix_agents_templates",
            "created_at",
            postgresql_where=text(
                "deleted_at IS NULL AND (agent_kind = 'template' OR is_template)"
            ),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    # users are deactivated, never deleted, so agents keep their owner
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    scope: Mapped[AgentScope] = mapped_column(
        str_enum(AgentScope, "agent_scope"), default=AgentScope.private
    )
    agent_type: Mapped[AgentType] = mapped_column(
        str_enum(AgentType, "agent_type"), default=AgentType.single
    )
    agent_kind: Mapped[AgentKind] = mapped_column(
        str_enum(AgentKind, "agent_kind"),
        default=AgentKind.dynamic,
        server_default=AgentKind.dynamic.value,
    )
    # an admin offers this (dynamic) agent as a template too
    is_template: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    version: Mapped[str] = mapped_column(String(32), default="1.0.0")
    definition: Mapped[dict[str, Any]]
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", default=dict, server_default=text("'{}'::jsonb")
    )
    is_active: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class AgentVersion(Base):
    """Every definition an agent has had; rows are never updated."""

    __tablename__ = "agent_versions"
    __table_args__ = (
        Index("uq_agent_versions_agent_id_version", "agent_id", "version", unique=True),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(32))
    definition: Mapped[dict[str, Any]]
    change_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_at()


class AgentPermission(Base):
    __tablename__ = "agent_permissions"

    agent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    level: Mapped[PermissionLevel] = mapped_column(str_enum(PermissionLevel, "permission_level"))
    granted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
