"""A worker killed with SIGKILL at each step boundary of a run with tool calls; a second worker
resumes the run. Whatever the boundary, the run ends succeeded with every tool executed exactly
once, an event log that tells each step once, and usage and cost counted once per request.

The killed worker is a real process (tests/support/crash_worker.py); the lease it held is
expired by moving its end into the past (the time a real sweeper would wait)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from core.clock import utcnow
from core.config import get_settings
from core.models.agents import Agent, AgentVersion
from core.models.executions import AgentExecution
from core.models.sessions import Event, EventType
from core.runs.backends import Backends
from core.runs.events import EventLog
from tests.support import crash_worker
from tests.support.rows import new_run, user_row

ROOT = Path(__file__).resolve().parents[2]
BOUNDARIES = [
    "before_model:1",
    "after_response:1",
    "after_results:1",
    "before_model:2",
    "after_response:2",
    "after_results:2",
    "before_model:3",
    "before_finish",
]
DEFINITION = {
    "model": {"provider": "test", "name": "test"},
    "system_prompt": "count twice",
    "tools": [{"name": "count", "enabled": True, "config": {}}],
}


@pytest.fixture
def count_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.tools.registry import TOOL_SPECS

    monkeypatch.setitem(TOOL_SPECS, "count", None)  # restored after the test
    crash_worker.register_count_tool()


def queued_run(engine: Any, definition: dict[str, Any] = DEFINITION) -> uuid.UUID:
    """A committed user, agent (with the count tool) and queued run with its opening event."""
    from core.db import transaction

    with transaction() as db:
        user = user_row(db)
        agent = Agent(
            name=f"crash_{uuid.uuid4().hex[:8]}",
            display_name="crash",
            owner_id=user.id,
            definition=definition,
            version="1.0.0",
        )
        db.add(agent)
        db.flush()
        db.add(AgentVersion(agent_id=agent.id, version="1.0.0", definition=definition))
        run = new_run(agent_id=agent.id, user_id=user.id, input="count")
        db.add(run)
        db.flush()
        EventLog(execution_id=run.id, session_id=None).add(
            db, [(EventType.user_message, {"content": "count"})]
        )
        return run.id


def kill_worker_at(execution_id: uuid.UUID, boundary: str) -> None:
    """A worker process delivers the run and SIGKILLs itself at `boundary`; its lease is then
    made to run out (what a real sweeper would wait for)."""
    killed = subprocess.run(
        [sys.executable, "-m", "tests.support.crash_worker", str(execution_id), boundary],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -9, killed.stdout + killed.stderr
    from core.db import transaction

    with transaction() as db:
        db.execute(
            update(AgentExecution)
            .where(AgentExecution.id == execution_id)
            .values(lease_expires_at=utcnow())
        )


def deliver(execution_id: uuid.UUID) -> Any:
    from core.services.worker import deliver_execution

    backends = Backends(get_settings(), model=crash_worker.scripted_model())
    return deliver_execution(execution_id, backends)


def recorded(execution_id: uuid.UUID) -> tuple[AgentExecution, list[Event]]:
    from core.db import transaction

    with transaction() as db:
        execution = db.get(AgentExecution, execution_id)
        assert execution is not None
        events = list(
            db.scalars(select(Event).where(Event.execution_id == execution_id).order_by(Event.seq))
        )
        db.expunge_all()
        return execution, events


def test_an_uncrashed_run_is_the_reference(engine, count_tool, tmp_path, monkeypatch):
    monkeypatch.setenv("CRASH_COUNTER_FILE", str(tmp_path / "counter"))
    execution_id = queued_run(engine)
    assert deliver(execution_id).status == "succeeded"
    execution, events = recorded(execution_id)
    assert execution.status.value == "succeeded"
    assert (tmp_path / "counter").read_text().split() == ["a", "b"]
    usage = (execution.requests, execution.input_tokens, execution.output_tokens)
    assert usage == (3, 30, 15)
    assert (execution.tool_calls, execution.cost) == (2, Decimal("0.003"))
    assert [e.type for e in events] == [
        "user_message",
        "model_response",
        "tool_call",
        "tool_result",
        "model_response",
        "tool_call",
        "tool_result",
        "model_response",
        "status",
    ]


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_a_run_killed_at_a_step_boundary_resumes_cleanly(
    engine, count_tool, tmp_path, monkeypatch, boundary
):
    counter = tmp_path / "counter"
    monkeypatch.setenv("CRASH_COUNTER_FILE", str(counter))
    execution_id = queued_run(engine)

    kill_worker_at(execution_id, boundary)
    crashed, _ = recorded(execution_id)
    assert crashed.status.value == "running"
    assert deliver(execution_id).status == "succeeded"

    execution, events = recorded(execution_id)
    assert (execution.status.value, execution.output) == ("succeeded", "done")
    assert counter.read_text().split() == ["a", "b"]  # every tool ran exactly once
    assert (execution.requests, execution.tool_calls) == (3, 2)
    assert (execution.input_tokens, execution.output_tokens) == (30, 15)
    assert execution.cost == Decimal("0.003")

    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(events) + 1))
    calls = [e.payload["tool_call_id"] for e in events if e.type == "tool_call"]
    assert calls == ["call-a", "call-b"]
    for call in calls:
        at_call = next(i for i, e in enumerate(events) if e.payload.get("tool_call_id") == call)
        results = [
            e for e in events if e.type == "tool_result" and e.payload["tool_call_id"] == call
        ]
        assert len(results) == 1
        assert events.index(results[0]) > at_call
    assert [e.type for e in events].count("model_response") == 3
    assert events[-1].type == "status"
    assert events[-1].payload["status"] == "succeeded"


APPROVED_COUNT = {
    **DEFINITION,
    "tools": [{"name": "count", "enabled": True, "config": {}, "requires_approval": True}],
}


def approve_pending(execution_id: uuid.UUID) -> str:
    """The run's owner approves its one pending call (committed); returns the call's id."""
    from core.db import transaction
    from core.models.users import User
    from core.runs.approvals.deciding import decide_approvals
    from core.schemas.executions import ApprovalsRequest
    from tests.support.queues import RecordingQueue

    queue = RecordingQueue()
    with transaction() as db:
        execution = db.get(AgentExecution, execution_id)
        assert execution is not None
        assert execution.status.value == "waiting_approval"
        [pending] = execution.pending_approvals or []
        user = db.get(User, execution.user_id)
        assert user is not None
        data = ApprovalsRequest.model_validate(
            {"decisions": [{"tool_call_id": pending["tool_call_id"], "approved": True}]}
        )
        decide_approvals(
            db,
            user=user,
            execution_id=execution_id,
            data=data,
            backends=Backends(get_settings(), queue=queue),
        )
        assert len(queue.tasks) == 1
        return str(pending["tool_call_id"])


@pytest.mark.parametrize("boundary", ["after_results:1", "before_model:2"])
def test_a_worker_killed_after_applying_a_decision_never_runs_the_call_twice(
    engine, count_tool, tmp_path, monkeypatch, boundary
):
    """SIGKILL of the worker that resumed an approved run: right after the approved call's
    result was saved, or while asking the model afterwards. The decision is spent with the
    saved result: the redelivery goes on from there, and every call runs exactly once."""
    counter = tmp_path / "counter"
    monkeypatch.setenv("CRASH_COUNTER_FILE", str(counter))
    execution_id = queued_run(engine, APPROVED_COUNT)
    assert deliver(execution_id).status == "waiting_approval"
    assert approve_pending(execution_id) == "call-a"

    kill_worker_at(execution_id, boundary)
    assert deliver(execution_id).status == "waiting_approval"  # count("b") waits in turn
    assert counter.read_text().split() == ["a"]
    assert approve_pending(execution_id) == "call-b"
    assert deliver(execution_id).status == "succeeded"
    assert deliver(execution_id).status == "done"  # a duplicate delivery changes nothing

    execution, events = recorded(execution_id)
    assert (execution.status.value, execution.output) == ("succeeded", "done")
    assert counter.read_text().split() == ["a", "b"]
    types = [e.type for e in events]
    assert types.count("approval_requested") == 2
    assert types.count("approval_decided") == 2
    results = [e.payload["tool_call_id"] for e in events if e.type == "tool_result"]
    assert results == ["call-a", "call-b"]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
