"""Execution rows written on every run: one statement per write, built once.

Starting and finishing a run are the hottest writes of the service. Through the ORM's unit of
work, or with a statement built and keyed anew each time, the Python around an INSERT or UPDATE
costs several times the statement's own round trip, and each round trip hands the GIL to
another thread. So each write here is a single statement, built once and only bound: a new run
with its first events (CTE: nothing is written when its idempotency key is taken), and the
fenced update with the events and trace row that only count if the fence holds (CTE). A run
started on a caller's token alone (`insert_checked_execution`) checks the account and the access
in its INSERT: the caller's row is never read on its own.
Events travel as one JSON array (`jsonb_to_recordset`), so the statement's text does not
depend on how many there are."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Column,
    Select,
    Table,
    Text,
    bindparam,
    case,
    column,
    func,
    insert,
    literal_column,
    null,
    select,
    true,
    update,
)
from sqlalchemy import cast as sa_cast
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement

from core.clock import utcnow
from core.models.agents import Agent
from core.models.executions import (
    AgentExecution,
    ExecutionStatus,
    ObservabilityTrace,
    WorkflowType,
)
from core.models.users import User
from core.runs.events import EVENTS_TABLE as EVENTS
from core.services.agent_access import may_execute_clause

EXECUTIONS = cast(Table, AgentExecution.__table__)
TRACES = cast(Table, ObservabilityTrace.__table__)
USERS = cast(Table, User.__table__)
AGENTS = cast(Table, Agent.__table__)

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
_COLUMNS = tuple(c.key for c in EXECUTIONS.columns)


class LeaseLost(Exception):
    """Another delivery owns the execution now."""


def new_execution(**values: Any) -> AgentExecution:
    """A transient AgentExecution with every column set, so it can be answered as it is,
    without being added to a session or read back."""
    execution = AgentExecution(**{**_NEW_RUN, **values})
    missing = [key for key in _COLUMNS if key not in execution.__dict__]
    assert not missing, f"new_execution needs {missing}"
    return execution


def insert_execution(
    db: Session | Connection,
    execution: AgentExecution,
    events: list[dict[str, Any]],
    *,
    commit: dict[str, Any] | None = None,
) -> bool:
    """INSERT a `new_execution` and its first events (`EventLog.rows`) in one statement;
    False, with nothing written, when the user's idempotency key is already taken. `commit`
    (`core.db.then_commit`) ends the transaction with it."""
    params = {f"x_{key}": execution.__dict__[key] for key in _COLUMNS}
    params["events"] = events
    result = db.execute(_start_statement(), params, execution_options=commit or {})
    return bool(result.rowcount == len(events))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class CheckedStart:
    """What `insert_checked_execution` learnt of the agent it started."""

    version: str
    workflow_type: WorkflowType
    # the version's definition, unless it is the version the caller said it knows
    definition: dict[str, Any] | None


# set from the agent's row by the statement itself
_FROM_AGENT = ("agent_version", "workflow_type")
# what every run started by `insert_checked_execution` has: constants of its statement, which
# binds only what differs from run to run (each parameter costs its own conversions)
_CHECKED_CONSTANTS = {
    key: value
    for key, value in _NEW_RUN.items()
    if key not in ("idempotency_key", "webhook_url", "lease_expires_at", "started_at")
}
_CHECKED_BOUND = tuple(
    key
    for key in _COLUMNS
    if key not in _FROM_AGENT and key not in _CHECKED_CONSTANTS and key != "updated_at"
)


def insert_checked_execution(
    db: Session | Connection,
    execution: AgentExecution,
    events: list[dict[str, Any]],
    *,
    known_version: str | None,
    commit: dict[str, Any] | None = None,
) -> CheckedStart | None:
    """`insert_execution` for a caller nothing has been read about yet: the same statement
    checks that the user is active and may execute the live, active agent (the rule of
    `agent_access.may_execute_clause`) and takes the agent's current version. None, with
    nothing written, when a check fails or the idempotency key is taken; the caller then finds
    out which the usual way. `execution.agent_version` and `workflow_type` are not read; the
    columns of `_CHECKED_CONSTANTS` must hold their defaults, and `updated_at` is `created_at`."""
    values = execution.__dict__
    assert values["updated_at"] == values["created_at"]
    assert all(values[key] == value for key, value in _CHECKED_CONSTANTS.items())
    params = {f"x_{key}": values[key] for key in _CHECKED_BOUND}
    params["events"] = events
    params["known_version"] = known_version
    row = db.execute(_checked_start_statement(), params, execution_options=commit or {}).first()
    if row is None:
        return None
    return CheckedStart(row[0], WorkflowType(row[1]), row[2])


def hold(
    db: Session | Connection,
    execution_id: Any,
    attempt: int,
    lease_s: int,
    values: dict[str, Any],
    *,
    events: list[dict[str, Any]] | None = None,
    trace: dict[str, Any] | None = None,
    commit: dict[str, Any] | None = None,
) -> datetime | None:
    """The fenced write, one statement: set `values` and extend the lease only while `attempt`
    still owns the running execution, and only then add `events` (`EventLog.rows`) and the
    `trace` row. `commit` (`core.db.then_commit`) ends the transaction with it. Returns
    cancel_requested_at; raises LeaseLost when the fence holds no more."""
    now = utcnow()
    # no parameter may be named like a column of agent_executions: SQLAlchemy would add it to
    # the UPDATE's SET list, hence the prefixes
    params = {f"set_{name}": value for name, value in values.items()}
    params |= {
        "fence_id": execution_id,
        "fence_attempt": attempt,
        "set_lease_expires_at": now + timedelta(seconds=lease_s),
        "set_updated_at": now,
    }
    if events:
        params["events"] = events
    if trace is not None:
        params |= {f"trace_row_{name}": value for name, value in trace.items()}
    statement = _fenced_statement(frozenset(values), bool(events), trace is not None)
    row = db.execute(statement, params, execution_options=commit or {}).one_or_none()
    if row is None:
        raise LeaseLost(str(execution_id))
    return cast(datetime | None, row[0])


def _event_rows(execution: Any) -> tuple[list[str], Select[Any]]:
    """The events of a JSON array parameter (`:events`) for the one-row CTE `execution`, as
    INSERT ... SELECT columns."""
    rows = (
        func.jsonb_to_recordset(bindparam("events", type_=JSONB))
        .table_valued(
            column("id", PG_UUID),
            column("session_id", PG_UUID),
            column("seq", BigInteger),
            column("type", Text),
            column("payload", JSONB),
        )
        .render_derived(with_types=True)
    )
    names = ["id", "session_id", "execution_id", "seq", "type", "payload"]
    return names, select(
        rows.c.id, rows.c.session_id, execution.c.id, rows.c.seq, rows.c.type, rows.c.payload
    ).select_from(execution.join(rows, true()))


@functools.cache
def _start_statement() -> Insert:
    table = EXECUTIONS
    new = (
        pg_insert(table)
        .values({key: bindparam(f"x_{key}", type_=table.c[key].type) for key in _COLUMNS})
        .on_conflict_do_nothing()
        .returning(table.c.id)
        .cte("new_execution")
    )
    names, rows = _event_rows(new)
    return insert(EVENTS).from_select(names, rows).add_cte(new)


@functools.cache
def _checked_start_statement() -> Select[Any]:
    table, users, agents = EXECUTIONS, USERS, AGENTS
    allowed = (
        select(agents.c.id, agents.c.version, agents.c.definition)
        .select_from(users.join(agents, true()))
        .where(
            users.c.id == bindparam("x_user_id", type_=users.c.id.type),
            agents.c.id == bindparam("x_agent_id", type_=agents.c.id.type),
            users.c.is_active,
            agents.c.is_active,
            agents.c.deleted_at.is_(None),
            may_execute_clause(users, agents),
        )
        .cte("allowed")
    )
    workflow_type = func.coalesce(
        allowed.c.definition.op("->")(literal_column("'workflow'")).op("->>")(
            literal_column("'type'")
        ),
        literal_column(f"'{WorkflowType.single.value}'"),
    )
    given: dict[str, ColumnElement[Any]] = {
        key: sa_cast(bindparam(f"x_{key}", type_=table.c[key].type), table.c[key].type)
        # cast: a parameter in a SELECT list is otherwise text, which numeric does not take
        for key in _CHECKED_BOUND
    }
    given |= {key: _constant(value, table.c[key]) for key, value in _CHECKED_CONSTANTS.items()}
    given |= {
        "agent_version": allowed.c.version,
        "workflow_type": workflow_type,
        "updated_at": given["created_at"],
    }
    values = [given[key] for key in _COLUMNS]
    new = (
        pg_insert(table)
        .from_select(list(_COLUMNS), select(*values).select_from(allowed))
        .on_conflict_do_nothing()
        .returning(table.c.id, table.c.agent_version, table.c.workflow_type)
        .cte("new_execution")
    )
    names, rows = _event_rows(new)
    known = allowed.c.version == bindparam("known_version", type_=agents.c.version.type)
    return (
        select(
            new.c.agent_version,
            new.c.workflow_type,
            case((known, null()), else_=allowed.c.definition),
        )
        .select_from(new.join(allowed, true()))
        .add_cte(insert(EVENTS).from_select(names, rows).cte("new_events"))
    )


def _constant(value: Any, column: Column[Any]) -> ColumnElement[Any]:
    """`value` written into the statement (a new run's NULLs, zeros and empty list)."""
    if value is None:
        return sa_cast(null(), column.type)
    if value == []:
        return sa_cast(literal_column("'[]'"), column.type)
    if isinstance(value, int):
        return sa_cast(literal_column(str(value)), column.type)
    raise TypeError(f"no SQL constant for {value!r}")


@functools.lru_cache(maxsize=32)
def _fenced_statement(columns: frozenset[str], with_events: bool, with_trace: bool) -> Any:
    table = EXECUTIONS
    sets = {
        name: bindparam(f"set_{name}", type_=table.c[name].type)
        for name in sorted({*columns, "lease_expires_at", "updated_at"})
    }
    fenced = (
        update(table)
        .where(
            table.c.id == bindparam("fence_id", type_=table.c.id.type),
            table.c.attempt == bindparam("fence_attempt", type_=table.c.attempt.type),
            table.c.status == ExecutionStatus.running,
        )
        .values(sets)
    )
    if not (with_events or with_trace):
        return fenced.returning(table.c.cancel_requested_at)
    held = fenced.returning(table.c.id, table.c.cancel_requested_at).cte("fenced")
    statement = select(held.c.cancel_requested_at)
    if with_events:
        names, rows = _event_rows(held)
        statement = statement.add_cte(insert(EVENTS).from_select(names, rows).cte("new_events"))
    if with_trace:
        trace_columns = ["id", "trace_id", "spans", "total_tokens", "latency_ms", "error"]
        values = [
            bindparam(f"trace_row_{name}", type_=TRACES.c[name].type) for name in trace_columns
        ]
        statement = statement.add_cte(
            insert(TRACES)
            .from_select([*trace_columns, "execution_id"], select(*values, held.c.id))
            .cte("new_trace")
        )
    return statement
