"""The single-statement writes of a run (core.runs.execution_rows): a new run with its first
events (the checked start), and the fenced update whose events and trace row count only while
the fence holds."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.clock import utcnow
from core.models.executions import (
    AgentExecution,
    ExecutionMode,
    ExecutionStatus,
    ObservabilityTrace,
)
from core.models.sessions import Event, EventType
from core.runs import execution_rows
from core.runs.events import EventLog
from tests.support.agents import create_agent
from tests.support.api import signed_up
from tests.support.rows import new_run


@pytest.fixture
def started(client, db) -> tuple[AgentExecution, EventLog]:
    """A running execution (attempt 1) written the way a sync execute writes it."""
    user, headers = signed_up(client)
    agent = create_agent(client, headers)
    now = utcnow()
    execution = new_run(
        agent_id=agent["id"],
        user_id=user["id"],
        status=ExecutionStatus.running,
        mode=ExecutionMode.sync,
        attempt=1,
        lease_expires_at=now + timedelta(seconds=60),
        started_at=now,
        created_at=now,
        updated_at=now,
        idempotency_key=f"k-{uuid.uuid4().hex}",
    )
    events = EventLog(execution_id=execution.id, session_id=None)
    opening = events.opening([(EventType.user_message, {"content": "hello"})])
    assert execution_rows.insert_checked_execution(db, execution, opening, known_version=None)
    return execution, events


def _events(db: Any, execution_id: uuid.UUID) -> list[tuple[int, str, dict[str, Any]]]:
    rows = db.execute(
        select(Event.seq, Event.type, Event.payload)
        .where(Event.execution_id == execution_id)
        .order_by(Event.seq)
    ).all()
    return [(seq, kind.value, payload) for seq, kind, payload in rows]


def _traces(db: Any, execution_id: uuid.UUID) -> int:
    return int(
        db.scalar(select(func.count()).where(ObservabilityTrace.execution_id == execution_id))
    )


def test_a_new_run_and_its_first_event_are_written_together(db, started):
    execution, _ = started
    stored = db.get(AgentExecution, execution.id)
    assert stored.status == ExecutionStatus.running
    assert stored.messages == []
    assert stored.requests == 0
    assert _events(db, execution.id) == [(1, "user_message", {"content": "hello"})]


def test_a_taken_idempotency_key_writes_neither_the_run_nor_its_events(db, started):
    execution, _ = started
    twin = execution_rows.new_execution(
        **{key: getattr(execution, key) for key in execution_rows._COLUMNS if key != "id"},
        id=uuid.uuid4(),
    )
    events = EventLog(execution_id=twin.id, session_id=None)
    rows = events.opening([(EventType.user_message, {"content": "again"})])
    assert not execution_rows.insert_checked_execution(db, twin, rows, known_version=None)
    assert db.get(AgentExecution, twin.id) is None
    assert _events(db, twin.id) == []


def test_the_fenced_write_adds_events_and_trace_while_the_fence_holds(db, started):
    execution, events = started
    rows = events.rows(
        db,
        [(EventType.model_response, {"text": "hi"}), (EventType.status, {"status": "succeeded"})],
    )
    trace = {
        "id": uuid.uuid4(),
        "trace_id": "ab" * 16,
        "spans": [{"name": "x"}],
        "total_tokens": 3,
        "latency_ms": 7,
        "error": None,
    }
    cancel = execution_rows.hold(
        db,
        execution.id,
        1,
        60,
        {"status": ExecutionStatus.succeeded, "output": "hi"},
        events=rows,
        trace=trace,
        now=utcnow(),
    )
    assert cancel is None
    db.expire_all()
    stored = db.get(AgentExecution, execution.id)
    assert (stored.status, stored.output) == (ExecutionStatus.succeeded, "hi")
    assert [seq for seq, _, _ in _events(db, execution.id)] == [1, 2, 3]
    assert _events(db, execution.id)[1] == (2, "model_response", {"text": "hi"})
    assert _traces(db, execution.id) == 1


@pytest.mark.parametrize("attempt", [2, 0])
def test_a_fenced_write_of_another_attempt_writes_nothing(db, started, attempt):
    execution, events = started
    rows = events.rows(db, [(EventType.status, {"status": "failed"})])
    trace = {
        "id": uuid.uuid4(),
        "trace_id": "cd" * 16,
        "spans": [],
        "total_tokens": 0,
        "latency_ms": 0,
        "error": None,
    }
    with pytest.raises(execution_rows.LeaseLost):
        execution_rows.hold(
            db,
            execution.id,
            attempt,
            60,
            {"status": ExecutionStatus.failed},
            events=rows,
            trace=trace,
            now=utcnow(),
        )
    db.expire_all()
    assert db.get(AgentExecution, execution.id).status == ExecutionStatus.running
    assert len(_events(db, execution.id)) == 1
    assert _traces(db, execution.id) == 0


def test_a_fenced_write_returns_a_pending_cancel_request(db, started):
    execution, _ = started
    asked = utcnow()
    db.execute(
        AgentExecution.__table__.update()
        .where(AgentExecution.__table__.c.id == execution.id)
        .values(cancel_requested_at=asked)
    )
    assert execution_rows.hold(db, execution.id, 1, 60, {}, now=utcnow()) == asked
