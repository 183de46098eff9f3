"""Who runs an execution: the claim, the fence, and ending runs nobody runs any more.

Whoever runs an execution holds it by its `attempt` number: the claim is a conditional UPDATE
(queued, or running with an expired lease) that bumps the attempt, and every later write is
fenced with `WHERE attempt = <mine>`; a write that matches nothing means another delivery owns
the run now, and this one stops without writing."""

from __future__ import annotations

import os
import secrets
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from core.config import Settings
from core.models.executions import AgentExecution, ExecutionStatus
from core.models.sessions import EventType
from core.runs.events import EventLog

# a session with a turn in one of these is busy
ACTIVE = (ExecutionStatus.queued, ExecutionStatus.running, ExecutionStatus.waiting_approval)

_holder: tuple[int, str] | None = None


def lease_holder() -> str:
    """This process's name on the leases it takes: host, pid and a random part (a fork gets a
    name of its own; a reused pid does not inherit a dead process's leases)."""
    global _holder
    pid = os.getpid()
    if _holder is None or _holder[0] != pid:
        _holder = (pid, f"{socket.gethostname()[:48]}:{pid}:{secrets.token_hex(4)}")
    return _holder[1]


def end_leases_of(db: Session, holders: list[str], now: datetime) -> int:
    """The leases these (dead) processes held end now: the next sweep or delivery takes their
    runs over at once instead of waiting the leases out. Returns how many runs were freed."""
    if not holders:
        return 0
    freed = db.execute(
        update(AgentExecution)
        .where(
            AgentExecution.status == ExecutionStatus.running,
            AgentExecution.lease_holder.in_(holders),
            AgentExecution.lease_expires_at > now,
        )
        .values(lease_expires_at=now, updated_at=now)
        .returning(AgentExecution.id)
    ).all()
    return len(freed)


@dataclass(frozen=True)
class ClaimResult:
    """What a delivery of an execution found: `attempt` when it now owns the run; otherwise
    `done` (finished or gone: acknowledge) or `busy_for_s` (another delivery holds a live
    lease: retry later)."""

    attempt: int | None = None
    done: bool = False
    busy_for_s: int = 0


def claim(db: Session, execution_id: uuid.UUID, settings: Settings, now: datetime) -> ClaimResult:
    lease_until = now + timedelta(seconds=settings.execution_lease_s)
    claimed = db.execute(
        update(AgentExecution)
        .where(
            AgentExecution.id == execution_id,
            AgentExecution.cancel_requested_at.is_(None),
            _unowned(now),
        )
        .values(
            status=ExecutionStatus.running,
            attempt=AgentExecution.attempt + 1,
            lease_expires_at=lease_until,
            lease_holder=lease_holder(),
            started_at=text("coalesce(started_at, now())"),
            updated_at=now,
        )
        .returning(AgentExecution.attempt, AgentExecution.attempt_base)
    ).one_or_none()
    if claimed is not None:
        attempt, base = claimed
        # deliveries are counted from the last approval decision (each resumes the run anew)
        if attempt - base > settings.execution_max_attempts:
            fail_exhausted(db, execution_id, attempt, settings, now)
            return ClaimResult(done=True)
        return ClaimResult(attempt=int(attempt))
    execution = db.get(AgentExecution, execution_id)
    if execution is None or execution.status.is_terminal:
        return ClaimResult(done=True)
    if execution.status == ExecutionStatus.waiting_approval:
        return ClaimResult(done=True)  # a decision enqueues it anew
    # a cancel of a run under a live lease is noticed by its owner at its next step
    if execution.cancel_requested_at is not None and end_cancelled(db, execution_id, now):
        return ClaimResult(done=True)
    return ClaimResult(busy_for_s=_left(execution, now))


def end_cancelled(db: Session, execution_id: uuid.UUID, now: datetime) -> bool:
    """A cancel requested while nobody runs the execution (queued, or running under a lease
    that expired: its worker died) ends it `cancelled` now. One conditional UPDATE, so of
    concurrent sweepers and deliveries exactly one writes the status event."""
    ended = db.execute(
        update(AgentExecution)
        .where(
            AgentExecution.id == execution_id,
            AgentExecution.cancel_requested_at.is_not(None),
            _unowned(now),
        )
        .values(
            status=ExecutionStatus.cancelled,
            error={"code": "cancelled", "message": "cancelled on request"},
            finished_at=now,
            lease_expires_at=None,
            updated_at=now,
        )
        .returning(AgentExecution.session_id)
    ).first()
    if ended is None:
        return False
    EventLog(execution_id=execution_id, session_id=ended.session_id).add(
        db, [(EventType.status, {"status": "cancelled"})]
    )
    return True


def _unowned(now: datetime) -> Any:
    """No delivery runs the execution: queued, or running under a lease that ran out."""
    return or_(
        AgentExecution.status == ExecutionStatus.queued,
        (AgentExecution.status == ExecutionStatus.running)
        & (AgentExecution.lease_expires_at < now),
    )


def _left(execution: AgentExecution, now: datetime) -> int:
    if execution.lease_expires_at is None:
        return 1
    return max(1, int((execution.lease_expires_at - now).total_seconds()) + 1)


def fail_exhausted(
    db: Session, execution_id: uuid.UUID, attempt: int, settings: Settings, now: datetime
) -> None:
    error = {
        "code": "too_many_attempts",
        "message": f"gave up after {settings.execution_max_attempts} deliveries",
    }
    # locked: of two sweepers, the second finds the run failed already
    execution = db.get(AgentExecution, execution_id, with_for_update=True)
    if execution is None or execution.status.is_terminal:
        return
    EventLog(execution_id=execution_id, session_id=execution.session_id).add(
        db, [(EventType.error, error), (EventType.status, {"status": "failed"})]
    )
    execution.status = ExecutionStatus.failed
    execution.error = error
    execution.finished_at = now
    execution.lease_expires_at = None


@dataclass(frozen=True)
class Fence:
    """What a delivery holds a running execution by: its attempt. Every write of the run
    (`RunStore.write`, `finish`, ...) lands only while that attempt still owns it
    (`execution_rows.hold`), else raises LeaseLost."""

    execution_id: uuid.UUID
    attempt: int
    lease_s: int


def release_lease(
    db: Session | Connection, execution_id: uuid.UUID, attempt: int, now: datetime
) -> None:
    """This delivery gives the run up (it failed, or failed transiently): its lease ends now,
    so the queue's retry claims it at once instead of waiting the lease out. Fenced: a run
    another delivery owns is left alone."""
    db.execute(
        update(AgentExecution)
        .where(
            AgentExecution.id == execution_id,
            AgentExecution.attempt == attempt,
            AgentExecution.status == ExecutionStatus.running,
        )
        .values(lease_expires_at=now)
    )
