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
