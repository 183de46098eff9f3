"""Execution rows written on every run: one statement per write, built once.

Starting and finishing a run are the hottest writes of the service. Through the ORM's unit of
work, or with a statement built and keyed anew each time, the Python around an INSERT or UPDATE
costs several times the statement's own round trip, and each round trip hands the GIL to
another thread. So each write here is a single statement, built once and only bound: a new run
with its first events, checking the account, the access and (for a session's turn) the session
as it inserts (`insert_checked_execution`: nothing read first, nothing written when a check
fails or the idempotency key is taken), and the fenced update with the events and trace row
that only count if the fence holds (CTE). Events travel as one JSON array
(`jsonb_to_recordset`), so the statement's text does not depend on how many there are. Runs the
service starts itself (an eval's cases) are inserted by CTEs a caller's statement takes in
(`new_runs_from`), with their first events.

Why one module of ~480 lines: the statements share their parameter conventions, the event
rows' CTE and the constants of a new run; each is built once here."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, cast

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
    or_,
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
from sqlalchemy.sql.elements import ColumnElement

from core.access.agents import may_execute_clause
from core.db.direct import direct
from core.models.agents import Agent
from core.models.executions import (
    AgentExecution,
    ExecutionStatus,
    ObservabilityTrace,
    WorkflowType,
)
from core.models.sessions import AgentSession, EventType, SessionStatus
from core.models.users import User
from core.runs.events import EVENTS_TABLE as EVENTS
from core.runs.leases import lease_holder
from core.runs.session_rules import first_title

EXECUTIONS = cast(Table, AgentExecution.__table__)
TRACES = cast(Table, ObservabilityTrace.__table__)
USERS = cast(Table, User.__table__)
AGENTS = cast(Table, Agent.__table__)
SESSIONS = cast(Table, AgentSession.__table__)

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
    "schedule_id": None,
    "eval_id": None,
    "webhook_url": None,
    "lease_expires_at": None,
    "lease_holder": None,
    "cancel_requested_at": None,
    "trace_id": None,
    "started_at": None,
    "finished_at": None,
    "pending_approvals": None,
    "approval_decisions": None,
    "approval_expires_at": None,
    "waiting_since": None,
    "approval_wait_s": 0.0,
    "attempt_base": 0,
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


def new_runs_from(starts: Any, shared: tuple[str, ...]) -> tuple[Any, Any]:
    """The INSERTs, as CTEs of one statement, of runs the service starts itself (an eval's
    cases) and of each one's first event (the user_message of its input). `starts` is a CTE
    with a row per run: its `id`, `input` and `event_id`. Each column in `shared` is the
    parameter `run_<column>` (the same for every run); the rest are a new run's constants."""
    values: list[Any] = []
    for key in _COLUMNS:
        if key in ("id", "input"):
            values.append(starts.c[key])
        elif key in shared:
            kind = EXECUTIONS.c[key].type
            values.append(sa_cast(bindparam(f"run_{key}", type_=kind), kind))
        else:
            values.append(_constant(_NEW_RUN[key], EXECUTIONS.c[key]))
    runs = (
        insert(EXECUTIONS)
        .from_select(list(_COLUMNS), select(*values).select_from(starts))
        .returning(EXECUTIONS.c.id)
        .cte("new_runs")
    )
    opening = select(
        starts.c.event_id,
        null(),
        starts.c.id,
        literal_column("1"),
        literal_column(f"'{EventType.user_message.value}'"),
        func.jsonb_build_object(literal_column("'content'"), starts.c.input),
    ).select_from(starts)
    names = ["id", "session_id", "execution_id", "seq", "type", "payload"]
    return runs, insert(EVENTS).from_select(names, opening).cte("new_run_events")


@dataclass(frozen=True)
class CheckedStart:
    """What `insert_checked_execution` learnt of the agent it started."""

    version: str
    workflow_type: WorkflowType
    # the version's definition, unless it is the version the caller said it knows
    definition: dict[str, Any] | None
    # the agent (a turn's is its session's)
    agent_id: uuid.UUID
    # the user's tokens and USD left today (None: no daily limit)
    tokens_left: int | None = None
    cost_left: Decimal | None = None
    # a turn's session's last seq before it: 0 for its first turn (no history to read)
    seq_base: int | None = None


# set from the agent's row by the statement itself
_FROM_AGENT = ("agent_version", "workflow_type")  # and agent_id: see _bound
# what places a run: a plain run has none of these, a session's turn its session, a workflow's
# step its parent, step index and iteration
Kind = Literal["run", "turn", "step"]
_PLACED_BY: dict[str, tuple[str, ...]] = {
    "run": (),
    "turn": ("session_id",),
    "step": ("parent_execution_id", "step_index", "iteration"),
}


def _constants(kind: Kind) -> dict[str, Any]:
    """What every run of `kind` started by `insert_checked_execution` has: constants of its
    statement, which binds only what differs from run to run (each parameter costs its own
    conversions)."""
    varying = (
        "idempotency_key",
        "schedule_id",
        "webhook_url",
        "lease_expires_at",
        "lease_holder",
        "started_at",
    )
    return {
        key: value
        for key, value in _NEW_RUN.items()
        if key not in varying and key not in _PLACED_BY[kind]
    }


def _bound(kind: Kind) -> tuple[str, ...]:
    """The columns bound as parameters: `agent_id` names the agent to check (for a turn it may
    be None: the session's), the column is set from the agent's row."""
    constants = _constants(kind)
    return tuple(
        key
        for key in _COLUMNS
        if key not in _FROM_AGENT and key not in constants and key != "updated_at"
    )


def insert_checked_execution(
    db: Session | Connection,
    execution: AgentExecution,
    events: list[dict[str, Any]],
    *,
    known_version: str | None,
    commit: dict[str, Any] | None = None,
    key_hash: bytes | None = None,
) -> CheckedStart | None:
    """The one way a run starts: a plain run, a session's turn (`session_id` set) or a
    workflow's step (`parent_execution_id` set), in one statement that checks what nothing was
    read about yet: the user is active and may execute the live, active agent (the rule of
    `core.access.agents.may_execute_clause`); for a turn, the session is the user's, of that agent,
    not archived and not busy (the index of one active turn per session), and its next seqs are
    taken for the opening `events` (numbered from 1 by `EventLog.opening`); with `key_hash`
    (a caller with an API key), the key still exists and has not expired. It takes the
    agent's current version. None, with nothing written, when a check fails or the idempotency
    key is taken; the caller then finds out which the usual way. `execution.agent_version` and
    `workflow_type` are not read; the columns of `_constants` must hold their defaults, and
    `updated_at` is `created_at`."""
    values = execution.__dict__
    kind: Kind = (
        "turn"
        if values["session_id"] is not None
        else "step"
        if values["parent_execution_id"] is not None
        else "run"
    )
    assert values["updated_at"] == values["created_at"]
    assert all(values[key] == value for key, value in _constants(kind).items())
    params = {f"x_{key}": values[key] for key in _bound(kind)}
    params["events"] = events
    params["known_version"] = known_version
    if kind == "turn":
        params["event_count"] = len(events)
        params["turn_title"] = first_title(values["input"])
    if key_hash is not None:
        params["key_hash"] = key_hash
    statement = _checked_start_statement(kind, key_hash is not None)
    rows = _run(db, statement, params, commit)
    if not rows:
        return None
    row = rows[0]
    return CheckedStart(row[0], WorkflowType(row[1]), row[2], row[3], row[4], row[5], row[6])


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
    now: datetime,
) -> datetime | None:
    """The fenced write, one statement: set `values` and extend the lease only while `attempt`
    still owns the running execution, and only then add `events` (`EventLog.rows`) and the
    `trace` row. `commit` (`core.db.then_commit`) ends the transaction with it. Returns
    cancel_requested_at; raises LeaseLost when the fence holds no more."""
    # no parameter may be named like a column of agent_executions: SQLAlchemy would add it to
    # the UPDATE's SET list, hence the prefixes
    params = {f"set_{name}": value for name, value in values.items()}
    params |= {
        "fence_id": execution_id,
        "fence_attempt": attempt,
        "set_updated_at": now,
    }
    # extended, unless the write gives the run up (a run waiting for approvals)
    if "lease_expires_at" not in values:
        params["set_lease_expires_at"] = now + timedelta(seconds=lease_s)
    params["set_lease_holder"] = lease_holder()
    if events:
        params["events"] = events
    if trace is not None:
        params |= {f"trace_row_{name}": value for name, value in trace.items()}
    statement = _fenced_statement(frozenset(values), bool(events), trace is not None)
    rows = _run(db, statement, params, commit)
    if not rows:
        raise LeaseLost(str(execution_id))
    row = rows[0]
    return cast(datetime | None, row[0])


def _run(
    db: Session | Connection, statement: Any, params: dict[str, Any], commit: Any
) -> list[tuple[Any, ...]]:
    """A hot statement on the unit of work's connection (the session's own, the same
    transaction), sent directly (core.db.direct); `commit` (`then_commit()`) ends it."""
    connection = db.connection() if isinstance(db, Session) else db
    return direct(statement, connection.dialect).rows(connection, params, options=commit)


def _event_rows(execution: Any, seq_base: Any = None) -> tuple[list[str], Select[Any]]:
    """The events of a JSON array parameter (`:events`) for the one-row CTE `execution`, as
    INSERT ... SELECT columns; with `seq_base` (a column of a one-row CTE), their seqs count on
    from it."""
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
    seq = rows.c.seq if seq_base is None else seq_base.c.seq_base + rows.c.seq
    joined = execution.join(rows, true())
    if seq_base is not None:
        joined = joined.join(seq_base, true())
    return names, select(
        rows.c.id, rows.c.session_id, execution.c.id, seq, rows.c.type, rows.c.payload
    ).select_from(joined)


@functools.cache
def _checked_start_statement(kind: Kind, keyed: bool = False) -> Select[Any]:
    table, users, agents, sessions = EXECUTIONS, USERS, AGENTS, SESSIONS
    user_id = bindparam("x_user_id", type_=users.c.id.type)
    agent_id = bindparam("x_agent_id", type_=agents.c.id.type)
    checks = [
        users.c.id == user_id,
        users.c.is_active,
        agents.c.is_active,
        agents.c.deleted_at.is_(None),
        may_execute_clause(users, agents),
    ]
    if keyed:
        from core.auth.api_keys import live_key_clause

        checks.append(live_key_clause(users))
    if kind == "turn":
        # the session's agent, unless the caller names one (execute with a session_id)
        joined = users.join(sessions, sessions.c.user_id == users.c.id).join(
            agents, agents.c.id == sessions.c.agent_id
        )
        checks += [
            sessions.c.id == bindparam("x_session_id", type_=sessions.c.id.type),
            or_(agent_id.is_(None), agents.c.id == agent_id),
        ]
    else:
        joined = users.join(agents, agents.c.id == agent_id)
    allowed = (
        select(agents.c.id, agents.c.version, agents.c.definition)
        .select_from(joined)
        .where(*checks)
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
        for key in _bound(kind)
    }
    given |= {key: _constant(value, table.c[key]) for key, value in _constants(kind).items()}
    given |= {
        "agent_id": allowed.c.id,
        "agent_version": allowed.c.version,
        "workflow_type": workflow_type,
        "updated_at": given["created_at"],
    }
    values = [given[key] for key in _COLUMNS]
    source: Any = allowed
    turn = None
    if kind == "turn":
        # the session's next seqs, taken while its row is locked (concurrent turns queue here)
        count = bindparam("event_count", type_=BigInteger)
        turn = (
            update(sessions)
            .where(
                sessions.c.id == bindparam("x_session_id", type_=sessions.c.id.type),
                sessions.c.agent_id == allowed.c.id,
                sessions.c.status != SessionStatus.archived,
            )
            .values(
                last_seq=sessions.c.last_seq + count,
                # an untitled session is named by its first message (session_rules.first_title)
                title=case(
                    (sessions.c.title == "", bindparam("turn_title", type_=sessions.c.title.type)),
                    else_=sessions.c.title,
                ),
            )
            .returning((sessions.c.last_seq - count).label("seq_base"))
            .cte("turn")
        )
        source = allowed.join(turn, true())
    new = (
        pg_insert(table)
        .from_select(list(_COLUMNS), select(*values).select_from(source))
        .on_conflict_do_nothing()  # the idempotency key, or (for a turn) a busy session
        .returning(table.c.id, table.c.agent_id, table.c.agent_version, table.c.workflow_type)
        .cte("new_execution")
    )
    names, rows = _event_rows(new, turn)
    known = allowed.c.version == bindparam("known_version", type_=agents.c.version.type)
    return (
        select(
            new.c.agent_version,
            new.c.workflow_type,
            case((known, null()), else_=allowed.c.definition),
            new.c.agent_id,
            # what the run's token and cost limits are clamped to (migrations 0015, 0020)
            func.daily_tokens_left(user_id),
            func.daily_cost_left(user_id),
            turn.c.seq_base if turn is not None else null(),
        )
        .select_from(
            new.join(allowed, true())
            if turn is None
            else new.join(allowed, true()).join(turn, true())
        )
        .add_cte(insert(EVENTS).from_select(names, rows).cte("new_events"))
    )


def _constant(value: Any, column: Column[Any]) -> ColumnElement[Any]:
    """`value` written into the statement (a new run's NULLs, zeros and empty list)."""
    if value is None:
        return sa_cast(null(), column.type)
    if value == []:
        return sa_cast(literal_column("'[]'"), column.type)
    if isinstance(value, int | float):
        return sa_cast(literal_column(repr(value)), column.type)
    raise TypeError(f"no SQL constant for {value!r}")


@functools.lru_cache(maxsize=32)
def _fenced_statement(columns: frozenset[str], with_events: bool, with_trace: bool) -> Any:
    table = EXECUTIONS
    sets = {
        name: bindparam(f"set_{name}", type_=table.c[name].type)
        for name in sorted({*columns, "lease_expires_at", "lease_holder", "updated_at"})
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
