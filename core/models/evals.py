"""Evals: an agent's eval sets (versioned, like agents) and eval runs, whose cases are ordinary
executions (`agent_executions.eval_id`)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, created_at, str_enum, updated_at, uuid_pk


class EvalSet(Base):
    """Named cases and the evaluators that score them; `version` counts its saves (each kept
    in eval_set_versions, so an eval run names exactly what it ran)."""

    __tablename__ = "eval_sets"
    __table_args__ = (Index("ix_eval_sets_agent_id_created_at", "agent_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)
    cases: Mapped[list[Any]]
    evaluators: Mapped[list[Any]]
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class EvalSetVersion(Base):
    """Every content an eval set has had; rows are never updated."""

    __tablename__ = "eval_set_versions"

    eval_set_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("eval_sets.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    cases: Mapped[list[Any]]
    evaluators: Mapped[list[Any]]
    created_at: Mapped[datetime] = created_at()


class EvalStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (EvalStatus.succeeded, EvalStatus.failed, EvalStatus.cancelled)


class Eval(Base):
    """One eval run: every case of one eval set version through one agent version, `repeat`
    times, at most `concurrency` cases running at once; the summary once every case is
    scored."""

    __tablename__ = "evals"
    __table_args__ = (
        Index("ix_evals_agent_id_created_at", "agent_id", "created_at", "id"),
        Index("ix_evals_eval_set_id_created_at", "eval_set_id", "created_at"),
        Index("ix_evals_status_updated_at", "status", "updated_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    eval_set_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("eval_sets.id", ondelete="CASCADE"))
    eval_set_version: Mapped[int] = mapped_column(Integer)
    agent_version: Mapped[str] = mapped_column(String(32))
    repeat: Mapped[int] = mapped_column(Integer, default=1)
    concurrency: Mapped[int] = mapped_column(Integer)
    status: Mapped[EvalStatus] = mapped_column(
        str_enum(EvalStatus, "eval_status"), default=EvalStatus.queued
    )
    pass_rate: Mapped[float | None] = mapped_column(Float)
    cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 6))
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_p50_ms: Mapped[float | None] = mapped_column(Float)
    latency_p95_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    finished_at: Mapped[datetime | None]


class EvalCase(Base):
    """One run of one case (`repeat_index` of the eval's repeats): its execution once started
    (set in the transaction that inserts it: a case starts once), its scores once scored."""

    __tablename__ = "eval_cases"
    __table_args__ = (Index("uq_eval_cases_execution_id", "execution_id", unique=True),)

    eval_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("evals.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    repeat_index: Mapped[int] = mapped_column(Integer, default=0)
    execution_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_executions.id", ondelete="SET NULL")
    )
    passed: Mapped[bool | None]
    scores: Mapped[dict[str, Any] | None]
    reasons: Mapped[dict[str, Any] | None]
