"""Sessions: CRUD, conversations that continue their history, the session-wide event log, and
privacy (another user's session is a 404 everywhere)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from tests.support.agents import create_agent
from tests.support.api import assert_error, signed_up
from tests.support.backends import answering


@pytest.fixture
def owner(client):
    return signed_up(client)


def new_session(client: Any, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    agent = create_agent(client, headers)
    response = client.post("/sessions", headers=headers, json={"agent_id": agent["id"]} | fields)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def say(client: Any, headers: dict[str, str], session_id: str, content: str) -> Any:
    return client.post(
        f"/sessions/{session_id}/messages", headers=headers, json={"content": content}
    )


def echo_history() -> FunctionModel:
    """Answers with the user prompts it was shown, oldest first: proves history replay."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompts = [
            part.content
            for message in messages
            if isinstance(message, ModelRequest)
            for part in message.parts
            if isinstance(part, UserPromptPart)
        ]
        return ModelResponse(parts=[TextPart(" | ".join(str(p) for p in prompts))])

    return FunctionModel(respond)


def test_a_conversation_replays_its_history(client, owner):
    _, headers = owner
    session = new_session(client, headers, title="chat")
    with answering(client, echo_history()):
        first = say(client, headers, session["id"], "one").get_json()
        second = say(client, headers, session["id"], "two").get_json()
    assert first["output"] == "one"
    assert second["output"] == "one | two"
    assert second["session_id"] == session["id"]


def test_session_events_have_increasing_seqs_across_turns(client, owner):
    _, headers = owner
    session = new_session(client, headers)
    for text in ("a", "b", "c"):
        assert say(client, headers, session["id"], text).status_code == 200
    page = client.get(f"/sessions/{session['id']}/events", headers=headers).get_json()
    seqs = [e["seq"] for e in page["items"]]
    assert seqs == list(range(1, len(seqs) + 1))
    assert [e["type"] for e in page["items"]].count("user_message") == 3
    assert client.get(f"/sessions/{session['id']}", headers=headers).get_json()["last_seq"] == len(
        seqs
    )


def test_session_events_page_by_cursor_without_gaps(client, owner):
    _, headers = owner
    session = new_session(client, headers)
    for text in ("a", "b", "c", "d"):
        say(client, headers, session["id"], text)
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = client.get(
            f"/sessions/{session['id']}/events", headers=headers, query_string=params
        ).get_json()
        seen += [e["seq"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(range(1, len(seen) + 1))


def test_a_second_message_while_one_runs_is_a_conflict(client, owner, db):
    from core.models.executions import AgentExecution, ExecutionStatus

    user, headers = owner
    session = new_session(client, headers)
    db.add(
        AgentExecution(
            agent_id=uuid.UUID(session["agent_id"]),
            agent_version="1.0.0",
            user_id=uuid.UUID(user["id"]),
            session_id=uuid.UUID(session["id"]),
            status=ExecutionStatus.running,
            input="still thinking",
        )
    )
    db.flush()
    body = assert_error(say(client, headers, session["id"], "hello?"), 409, "session_busy")
    assert "running" in body["message"]


def test_update_and_delete_a_session(client, owner):
    _, headers = owner
    session = new_session(client, headers)
    response = client.patch(
        f"/sessions/{session['id']}",
        headers=headers,
        json={"title": "renamed", "state": {"k": 1}, "status": "archived"},
    )
    assert response.get_json()["title"] == "renamed"
    assert_error(say(client, headers, session["id"], "hi"), 409, "session_archived")
    assert client.delete(f"/sessions/{session['id']}", headers=headers).status_code == 204
    assert_error(client.get(f"/sessions/{session['id']}", headers=headers), 404)


def test_sessions_need_execute_access_to_the_agent(client, owner):
    _, headers = owner
    agent = create_agent(client, headers)
    _, stranger = signed_up(client)
    response = client.post("/sessions", headers=stranger, json={"agent_id": agent["id"]})
    assert_error(response, 404, "agent_not_found")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/sessions/{id}", None),
        ("patch", "/sessions/{id}", {"title": "x"}),
        ("delete", "/sessions/{id}", None),
        ("post", "/sessions/{id}/messages", {"content": "hi"}),
        ("get", "/sessions/{id}/events", None),
    ],
)
def test_another_users_session_is_a_404_everywhere(client, owner, method, path, body):
    _, headers = owner
    session = new_session(client, headers)
    _, stranger = signed_up(client)
    call = getattr(client, method)
    kwargs = {"json": body} if body is not None else {}
    response = call(path.format(id=session["id"]), headers=stranger, **kwargs)
    assert_error(response, 404, "session_not_found")


def test_a_stranger_cannot_see_anothers_session_in_lists_or_runs(client, owner):
    _, headers = owner
    session = new_session(client, headers)
    execution = say(client, headers, session["id"], "secret").get_json()
    _, stranger = signed_up(client)
    assert client.get("/sessions", headers=stranger).get_json()["items"] == []
    assert_error(client.get(f"/executions/{execution['id']}", headers=stranger), 404)
    assert_error(client.get(f"/executions/{execution['id']}/events", headers=stranger), 404)
    assert_error(client.post(f"/executions/{execution['id']}/cancel", headers=stranger), 404)


def test_an_untitled_session_is_named_by_its_first_message_and_found_by_its_title(client, owner):
    _, headers = owner
    untitled = new_session(client, headers)
    named = new_session(client, headers, title="Quarterly numbers")
    long = "## Plan the 50% launch_day: move it to Friday, then tell every customer and the press\n"
    assert say(client, headers, untitled["id"], long).status_code == 200
    assert say(client, headers, untitled["id"], "a second message").status_code == 200
    assert say(client, headers, named["id"], "hello").status_code == 200
    titles = {
        s["id"]: s["title"] for s in client.get("/sessions", headers=headers).get_json()["items"]
    }
    assert titles[untitled["id"]] == "Plan the 50% launch_day: move it to Friday, then tell…"
    assert titles[named["id"]] == "Quarterly numbers"

    def found(q: str) -> list[str]:
        page = client.get("/sessions", headers=headers, query_string={"q": q}).get_json()
        return [s["id"] for s in page["items"]]

    assert found("LAUNCH") == [untitled["id"]]
    assert found("50%") == [untitled["id"]]
    assert found("t_e") == []  # LIKE's wildcards are literal
    assert found("launch_day") == [untitled["id"]]
    assert found("quarterly") == [named["id"]]
