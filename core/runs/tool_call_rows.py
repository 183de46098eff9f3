"""The rows of a run's tool calls (`tool_calls`), as the tool journal changes them: every write
is fenced like the run's own (only while this attempt holds the running execution), and every
change of another attempt's row is a compare-and-set on its state and attempt."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.models.executions import (
    AgentExecution,
    ExecutionStatus,
    ToolCallRecord,
    ToolCallState,
)
from core.runs.execution_rows import LeaseLost
from core.runs.leases import Fence


@dataclass(frozen=True)
class ToolCallRow:
    state: ToolCallState
    attempt: int
    outcome: dict[str, Any] | None
    approval_mark: str | None


def _holds(fence: Fence) -> Any:
    return exists().where(
        AgentExecution.id == fence.execution_id,
        AgentExecution.attempt == fence.attempt,
        AgentExecution.status == ExecutionStatus.running,
    )


def begin(
    db: Session,
    fence: Fence,
    call_id: str,
    tool_name: str,
    mark: str | None,
    now: datetime,
) -> ToolCallRow | None:
    """Record the call `started` by this attempt; None when it did. When the call has a row
    already, that row (nothing is written). Raises LeaseLost when the fence holds no more."""
    inserted = db.execute(
        insert(ToolCallRecord)
        .from_select(
            [
                "execution_id",
                "tool_call_id",
                "tool_name",
                "state",
                "attempt",
                "approval_mark",
                "started_at",
            ],
            select(
                AgentExecution.id,
                _literal(call_id),
                _literal(tool_name),
                _literal(ToolCallState.started.value),
                _literal(fence.attempt),
                _literal(mark),
                _literal(now),
            ).where(
                AgentExecution.id == fence.execution_id,
                AgentExecution.attempt == fence.attempt,
                AgentExecution.status == ExecutionStatus.running,
            ),
        )
        .on_conflict_do_nothing(index_elements=["execution_id", "tool_call_id"])
        .returning(ToolCallRecord.tool_call_id)
    ).first()
    if inserted is not None:
        return None
    row = db.execute(
        select(
            ToolCallRecord.state,
            ToolCallRecord.attempt,
            ToolCallRecord.outcome,
            ToolCallRecord.approval_mark,
        ).where(
            ToolCallRecord.execution_id == fence.execution_id,
            ToolCallRecord.tool_call_id == call_id,
        )
    ).first()
    if row is None:  # nothing inserted and nothing there: the run is not ours any more
        raise LeaseLost(str(fence.execution_id))
    return ToolCallRow(ToolCallState(row.state), row.attempt, row.outcome, row.approval_mark)


def move(
    db: Session,
    fence: Fence,
    call_id: str,
    *,
    expect: tuple[ToolCallState, int],
    state: ToolCallState,
    outcome: dict[str, Any] | None = None,
    mark: str | None = None,
    now: datetime,
) -> bool:
    """Move the call from (state, attempt) `expect` to `state` under this attempt; False when
    the row was no longer as expected (another attempt moved it first). Raises LeaseLost when
    the fence holds no more."""
    values: dict[str, Any] = {"state": state, "attempt": fence.attempt}
    if state == ToolCallState.finished:
        values |= {"outcome": outcome, "finished_at": now}
    else:
        values |= {"approval_mark": mark, "started_at": now}
    moved = db.execute(
        update(ToolCallRecord)
        .where(
            ToolCallRecord.execution_id == fence.execution_id,
            ToolCallRecord.tool_call_id == call_id,
            ToolCallRecord.state == expect[0],
            ToolCallRecord.attempt == expect[1],
            _holds(fence),
        )
        .values(**values)
        .returning(ToolCallRecord.tool_call_id)
    ).first()
    if moved is not None:
        return True
    if not db.scalar(select(_holds(fence))):
        raise LeaseLost(str(fence.execution_id))
    return False


def forget(db: Session, fence: Fence, call_id: str) -> None:
    """The call did not run after all (it waits for a person): drop this attempt's row."""
    db.execute(
        delete(ToolCallRecord).where(
            ToolCallRecord.execution_id == fence.execution_id,
            ToolCallRecord.tool_call_id == call_id,
            ToolCallRecord.state == ToolCallState.started,
            ToolCallRecord.attempt == fence.attempt,
        )
    )


def _literal(value: Any) -> Any:
    return literal(value)


def calls_of(db: Session, execution_id: uuid.UUID) -> list[ToolCallRecord]:
    return list(
        db.scalars(
            select(ToolCallRecord)
            .where(ToolCallRecord.execution_id == execution_id)
            .order_by(ToolCallRecord.started_at)
        )
    )
