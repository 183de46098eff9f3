"""A session's conversation is read from its succeeded turns (core.runs.session_history):
what a turn sees, what the process keeps between turns, and the migration that moved it there."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    TextPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from core.clock import utcnow
from core.models.executions import AgentExecution, ExecutionStatus
from core.models.sessions import AgentSession
from core.runs import session_history as history
from tests.support.agents import create_agent
from tests.support.api import signed_up
from tests.support.backends import answering
from tests.support.rows import session_row


def _turn(prompt: str, answer: str) -> list[Any]:
    return ModelMessagesTypeAdapter.dump_python(
        [
            ModelRequest(parts=[UserPromptPart(content=prompt)]),
            ModelResponse(parts=[TextPart(content=answer)]),
        ],
        mode="json",
    )


def _texts(messages: list[ModelMessage]) -> list[str]:
    return [str(part.content) for message in messages for part in message.parts]  # type: ignore[union-attr]


@pytest.fixture
def session_id(db: Any) -> uuid.UUID:
    return session_row(db).id


def _add_turn(
    db: Any, session_id: uuid.UUID, status: ExecutionStatus, messages: list[Any]
) -> AgentExecution:
    """A finished turn, written the way another instance would have written it."""
    session = db.get(AgentSession, session_id)
    last = db.scalar(
        sa.select(sa.func.max(AgentExecution.created_at)).where(
            AgentExecution.session_id == session_id
        )
    )
    execution = AgentExecution(
        agent_id=session.agent_id,
        agent_version="1.0.0",
        user_id=session.user_id,
        session_id=session_id,
        status=status,
        messages=messages,
        created_at=(last or utcnow()) + timedelta(milliseconds=1),
    )
    db.add(execution)
    db.flush()
    return execution


def test_the_history_is_the_succeeded_turns_in_order(db, session_id):
    _add_turn(db, session_id, ExecutionStatus.succeeded, _turn("one", "1"))
    _add_turn(db, session_id, ExecutionStatus.failed, _turn("lost", "x"))
    _add_turn(db, session_id, ExecutionStatus.succeeded, _turn("two", "2"))
    assert _texts(history.session_history(db, session_id)) == ["one", "1", "two", "2"]


def test_turns_finished_elsewhere_extend_what_the_process_kept(db, session_id):
    _add_turn(db, session_id, ExecutionStatus.succeeded, _turn("one", "1"))
    assert _texts(history.session_history(db, session_id)) == ["one", "1"]
    _add_turn(db, session_id, ExecutionStatus.cancelled, _turn("stopped", "x"))
    _add_turn(db, session_id, ExecutionStatus.succeeded, _turn("two", "2"))
    assert _texts(history.session_history(db, session_id)) == ["one", "1", "two", "2"]
    # and a caller may change its list without changing what the next turn sees
    history.session_history(db, session_id).clear()
    assert len(history.session_history(db, session_id)) == 4


def test_a_kept_history_is_not_read_again(db, session_id):
    first = _add_turn(db, session_id, ExecutionStatus.succeeded, _turn("one", "1"))
    history.session_history(db, session_id)
    # a finished turn never changes; rewriting it here shows the kept copy is what is used
    first.messages = _turn("rewritten", "r")
    db.flush()
    assert _texts(history.session_history(db, session_id)) == ["one", "1"]
    history.forget_session(session_id)
    assert _texts(history.session_history(db, session_id)) == ["rewritten", "r"]


def test_what_the_process_keeps_is_bounded(db, session_id, monkeypatch):
    monkeypatch.setattr(history, "MAX_KEPT_MESSAGES", 5)
    monkeypatch.setattr(history, "_kept", type(history._kept)())
    monkeypatch.setattr(history, "_kept_messages", 0)
    _add_turn(db, session_id, ExecutionStatus.succeeded, _turn("one", "1"))
    history.session_history(db, session_id)
    assert history._kept_messages == 2
    _add_turn(db, session_id, ExecutionStatus.succeeded, _turn("two", "2"))
    history.session_history(db, session_id)
    assert history._kept_messages == 4
    assert list(history._kept) == [session_id]
    _add_turn(db, session_id, ExecutionStatus.succeeded, _turn("three", "3"))
    assert len(history.session_history(db, session_id)) == 6  # too long to keep: read each time
    assert history._kept_messages == 0
    assert not history._kept


def test_a_failed_turn_stays_out_of_the_conversation(client):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    session = client.post("/sessions", headers=headers, json={"agent_id": agent["id"]}).get_json()

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompts = [
            str(part.content)
            for message in messages
            if isinstance(message, ModelRequest)
            for part in message.parts
            if isinstance(part, UserPromptPart)
        ]
        if prompts[-1] == "fail":
            raise RuntimeError("the model broke")
        return ModelResponse(parts=[TextPart(" | ".join(prompts))])

    def say(content: str) -> dict[str, Any]:
        response = client.post(
            f"/sessions/{session['id']}/messages", headers=headers, json={"content": content}
        )
        assert response.status_code == 200, response.get_json()
        return dict(response.get_json())

    with answering(client, FunctionModel(respond)):
        assert say("one")["output"] == "one"
        assert say("fail")["status"] == "failed"
        assert say("two")["output"] == "one | two"
