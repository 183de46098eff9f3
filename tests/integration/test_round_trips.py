"""How many statements the hot paths send: each round trip costs far more under concurrent
load than its own time (bench/execute.py), so the budget is a tested property."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import update

from core.access.agents import Access, agent_for
from core.models.agents import Agent
from tests.support.agents import create_agent, execute
from tests.support.api import signed_up


@pytest.fixture
def statements(engine: Any) -> Iterator[list[str]]:
    """The data statements sent meanwhile: not the tests' SAVEPOINTs, nor the rate limiter's
    counts, which a request adds when their interval is up (core.services.rate_limits)."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        skipped = ("SAVEPOINT", "RELEASE", "ROLLBACK", "INSERT INTO REQUEST_COUNTS")
        if not statement.lstrip().upper().startswith(skipped):
            sent.append(" ".join(statement.split()))

    sa.event.listen(engine, "before_cursor_execute", record)
    yield sent
    sa.event.remove(engine, "before_cursor_execute", record)


def test_a_sync_execute_sends_two_statements(client, statements):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    statements.clear()
    response = execute(client, headers, agent["id"])
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "succeeded"
    # the run with its first event, checking the caller and the access as it inserts; then its
    # outcome, events and trace
    assert len(statements) == 2, statements
    start, finish = statements
    assert start.startswith("WITH allowed AS (SELECT agents.id")
    assert "FROM users JOIN agents" in start
    assert "INSERT INTO agent_executions" in start
    assert "INSERT INTO events" in start
    assert finish.startswith("WITH fenced AS (UPDATE agent_executions")
    assert "INSERT INTO events" in finish
    assert "INSERT INTO observability_traces" in finish


def test_an_async_execute_sends_one_statement(client, statements, queue):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    statements.clear()
    response = execute(client, headers, agent["id"], mode="async")
    assert len(queue.tasks) == 1
    assert response.status_code == 202, response.get_json()
    assert len(statements) == 1, statements
    assert statements[0].startswith("WITH allowed AS (SELECT agents.id")


def test_an_agent_read_with_the_caller_is_not_read_again(client, statements):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    statements.clear()
    assert client.get(f"/agents/{agent['id']}", headers=headers).status_code == 200
    assert not any(s.startswith("SELECT agents.") for s in statements), statements


def test_a_deleted_agent_read_with_the_caller_is_still_missing(client):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    assert client.delete(f"/agents/{agent['id']}", headers=headers).status_code == 204
    response = client.get(f"/agents/{agent['id']}", headers=headers)
    assert response.status_code == 404


def test_a_locking_read_replaces_what_the_session_read_before(client, db):
    from core.models.users import User

    user_row, headers = signed_up(client)
    agent_id = uuid.UUID(create_agent(client, headers)["id"])
    user = db.get(User, uuid.UUID(user_row["id"]))
    stale = db.get(Agent, agent_id)  # now in the identity map, as a preload leaves it
    assert stale.version == "1.0.0"
    db.execute(
        update(Agent.__table__).where(Agent.__table__.c.id == agent_id).values(version="7.0.0")
    )
    assert agent_for(db, user, agent_id, Access.edit, for_update=True).version == "7.0.0"


def turn(client: Any, headers: dict[str, str], session_id: str, **body: Any) -> Any:
    return client.post(
        f"/sessions/{session_id}/messages", headers=headers, json={"content": "hi"} | body
    )


def test_a_session_turn_sends_at_most_four_statements(client, statements):
    """The checked start (account, access, session, seq, run, first event), the conversation
    since the turns this instance keeps, the session's seqs for the last events, the outcome."""
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    session = client.post("/sessions", headers=headers, json={"agent_id": agent["id"]})
    session_id = session.get_json()["id"]
    counts = []
    for _ in range(3):
        statements.clear()
        response = turn(client, headers, session_id)
        assert response.get_json()["status"] == "succeeded", response.get_json()
        counts.append(len(statements))
    assert max(counts) <= 4, (counts, statements)


def test_an_async_turn_sends_one_statement(client, statements, queue):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    session = client.post("/sessions", headers=headers, json={"agent_id": agent["id"]})
    statements.clear()
    response = turn(client, headers, session.get_json()["id"], mode="async")
    assert response.status_code == 202, response.get_json()
    assert len(statements) == 1, statements


def test_a_workflow_step_starts_with_one_statement_after_looking_for_itself(client, statements):
    """Per step: is it there already (a redelivery), its checked start, its outcome, and the
    parent's note of it."""
    _, headers = signed_up(client)
    step = create_agent(client, headers)
    one = create_agent(
        client,
        headers,
        definition={
            "model": {"provider": "test", "name": "test"},
            "workflow": {"type": "sequential", "steps": [step["id"]]},
        },
    )
    two = create_agent(
        client,
        headers,
        definition={
            "model": {"provider": "test", "name": "test"},
            "workflow": {"type": "sequential", "steps": [step["id"], step["id"]]},
        },
    )
    sent = []
    for flow in (one, two):
        statements.clear()
        response = execute(client, headers, flow["id"])
        assert response.get_json()["status"] == "succeeded", response.get_json()
        sent.append(len(statements))
    per_step = sent[1] - sent[0]
    assert per_step <= 5, (sent, statements)


def test_an_a2a_message_in_a_new_context_adds_one_statement_to_a_turn(client, statements):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    message = {"messageId": uuid.uuid4().hex, "role": "ROLE_USER", "parts": [{"text": "hi"}]}
    body = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": message}}
    statements.clear()
    response = client.post(f"/a2a/agents/{agent['id']}", json=body, headers=headers)
    assert response.get_json()["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    sent = statements
    # the context's session, checking the caller and the access as it inserts; then the
    # first turn of a session: its start, its last events' seqs, its end
    assert sent[0].startswith("INSERT INTO sessions"), sent
    assert len(sent) == 1 + 3, sent


def test_an_mcp_tool_call_adds_one_statement_to_an_execute(client, statements):
    _, headers = signed_up(client)
    create_agent(client, headers, name="helper")
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "helper", "arguments": {"input": "hi"}},
    }
    statements.clear()
    response = client.post("/mcp", json=body, headers=headers)
    assert response.get_json()["result"]["isError"] is False, response.get_json()
    sent = statements
    # the agents the tool's name may name (id, name, owner); then an execute's two
    assert len(sent) == 1 + 2, sent
    assert sent[0].startswith("SELECT agents.id, agents.name, owner.username"), sent
