"""Execution rows written on every run, with Core statements built once.

Starting and finishing a run are the hottest writes of the service. Through the ORM's unit of
work, or with a statement built and keyed anew each time, the Python around an INSERT or UPDATE
costs several times the statement's own round trip; these are built once and only bound."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Update

from core.clock import utcnow
from core.models.executions import AgentExecution, ExecutionStatus, ObservabilityTrace

EXECUTIONS = cast(Table, AgentExecution.__table__)
TRACES = cast(Table, ObservabilityTrace.__table__)

# what a brand-new run has in every column its creator does not set
_NEW_RUN: dict[str, Any] = {
    "session_id": None,
    "parent_execution_id": None,
    "step_index": None,
    "iteration": None,
    "output": None,
    "error": None,
    "messages": [],
    "requests": 0,
    "input_tokens": 0,
    "output_tokens": 0,
    "tool_calls": 0,
    "cost": None,
    "idempotency_key": None,
    "webhook_url": None,
    "lease_expires_at": None,
    "cancel_requested_at": None,
    "trace_id": None,
    "started_at": None,
    "finished_at": None,
}
_COLUMNS = tuple(column.key for column in EXECUTIONS.columns)
# a taken idempotency key (user_id, idempotency_key) inserts nothing instead of failing
_INSERT_EXECUTION = pg_insert(EXECUTIONS).on_conflict_do_nothing()
_INSERT_TRACE = insert(TRACES)


class LeaseLost(Exception):
    """Another delivery owns the execution now."""


def new_execution(**values: Any) -> AgentExecution:
    """A transient AgentExecution with every column set, so it can be answered as it is,
    without being added to a session or read back."""
    execution = AgentExecution(**{**_NEW_RUN, **values})
    missing = [key for key in _COLUMNS if key not in execution.__dict__]
    assert not missing, f"new_execution needs {missing}"
    return execution


def insert_execution(db: Session, execution: AgentExecution) -> bool:
    """INSERT a `new_execution`; False when the user's idempotency key is already taken."""
    row = {key: execution.__dict__[key] for key in _COLUMNS}
    return bool(db.execute(_INSERT_EXECUTION, row).rowcount == 1)  # type: ignore[attr-defined]


def hold(
    db: Session, execution_id: Any, attempt: int, lease_s: int, values: dict[str, Any]
) -> datetime | None:
    """The fenced write: set `values` and extend the lease only while `attempt` still owns the
    running execution. Returns cancel_requested_at; raises LeaseLost when the fence holds no
    more."""
    now = utcnow()
    params = {f"set_{name}": value for name, value in values.items()}
    params |= {
        "fence_id": execution_id,
        "fence_attempt": attempt,
        "set_lease_expires_at": now + timedelta(seconds=lease_s),
        "set_updated_at": now,
    }
    row = db.execute(_fenced_update(frozenset(values)), params).one_or_none()
    if row is None:
        raise LeaseLost(str(execution_id))
    return cast(datetime | None, row[0])


@functools.lru_cache(maxsize=32)
def _fenced_update(columns: frozenset[str]) -> Update:
    table = EXECUTIONS
    sets = {
        name: bindparam(f"set_{name}", type_=table.c[name].type)
        for name in sorted({*columns, "lease_expires_at", "updated_at"})
    }
    return (
        update(table)
        .where(
            table.c.id == bindparam("fence_id", type_=table.c.id.type),
            table.c.attempt == bindparam("fence_attempt", type_=table.c.attempt.type),
            table.c.status == ExecutionStatus.running,
        )
        .values(sets)
        .returning(table.c.cancel_requested_at)
    )


def insert_trace(db: Session, **values: Any) -> None:
    db.execute(_INSERT_TRACE, values)
