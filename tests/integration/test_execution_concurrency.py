"""Executions started at the same moment with one idempotency key: one run, one answer.

Real commits from concurrent transactions (tests.support.concurrency)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.support.agents import create_agent
from tests.support.concurrency import at_once, committing_app, own_database, users  # noqa: F401

CALLERS = 12


@pytest.fixture(scope="module")
def scratch_engine(engine: Engine, database_url: str) -> Iterator[Engine]:
    yield from own_database(engine, database_url, pool_size=CALLERS + 5)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_one_idempotency_key_sent_at_once_makes_one_execution(app, mode, monkeypatch):
    from core.models.executions import AgentExecution
    from core.models.sessions import Event

    if mode == "async":  # nothing delivers the task here: only the rows matter
        monkeypatch.setattr("core.runs.starting.enqueue_execution", lambda *args, **kw: None)
    ((_, headers),) = users(1)
    client = app.test_client()
    agent = create_agent(client, headers)
    key = f"key-{uuid.uuid4().hex}"
    body = {"input": "once", "mode": mode, "idempotency_key": key}
    responses = at_once(
        app,
        [
            lambda c: c.post(f"/agents/{agent['id']}/execute", headers=headers, json=body)
            for _ in range(CALLERS)
        ],
    )
    assert {r.status_code for r in responses} == ({200} if mode == "sync" else {202})
    assert len({r.get_json()["id"] for r in responses}) == 1
    from core.db import transaction

    with transaction() as db:
        rows = db.scalars(
            sa.select(AgentExecution).where(AgentExecution.idempotency_key == key)
        ).all()
        assert len(rows) == 1
        user_messages = db.scalar(
            sa.select(sa.func.count()).where(
                Event.execution_id == rows[0].id, Event.type == "user_message"
            )
        )
    assert user_messages == 1


def test_messages_sent_at_once_to_one_session_start_one_turn(app, monkeypatch):
    """The session row is taken by the starting statement and one active turn per session is
    an index: of turns started in the same instant, one runs and the others hear 409."""
    from core.models.executions import AgentExecution
    from core.models.sessions import Event

    monkeypatch.setattr("core.runs.starting.enqueue_execution", lambda *args, **kw: None)
    ((_, headers),) = users(1)
    client = app.test_client()
    agent = create_agent(client, headers)
    session = client.post("/sessions", headers=headers, json={"agent_id": agent["id"]})
    session_id = session.get_json()["id"]
    body = {"content": "at once", "mode": "async"}  # queued: the first turn stays active
    responses = at_once(
        app,
        [
            lambda c: c.post(f"/sessions/{session_id}/messages", headers=headers, json=body)
            for _ in range(CALLERS)
        ],
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] + [409] * (CALLERS - 1)
    assert {r.get_json()["error"]["code"] for r in responses if r.status_code == 409} == {
        "session_busy"
    }
    from core.db import transaction

    with transaction() as db:
        turns = db.scalars(
            sa.select(AgentExecution).where(AgentExecution.session_id == uuid.UUID(session_id))
        ).all()
        seqs = db.scalars(
            sa.select(Event.seq).where(Event.session_id == uuid.UUID(session_id))
        ).all()
    assert len(turns) == 1
    assert len(seqs) == len(set(seqs)) == 1
