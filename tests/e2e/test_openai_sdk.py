"""The official `openai` SDK, pointed at the service as `make dev` runs it: the agents are its
models; a plain completion, a streamed one, one whose agent uses tools, a conversation kept by a
session, and OpenAI's errors as the SDK raises them."""

from __future__ import annotations

import uuid
from typing import Any

import openai
import pytest

PASSWORD = "correct horse battery"


@pytest.fixture
def sdk(http: Any) -> tuple[openai.OpenAI, dict[str, str]]:
    name = f"oai_{uuid.uuid4().hex[:8]}"
    user = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    assert http.post("/auth/register", json=user).status_code == 201
    token = http.post("/auth/login", json={"username": name, "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    key = http.post("/api-keys", json={"name": "sdk", "scope": "execute"}, headers=headers).json()
    for agent_name, model, tools in (
        ("echo", "test-echo", []),
        ("worker", "test", [{"name": "file_write", "enabled": True, "config": {}}]),
    ):
        made = http.post(
            "/agents",
            json={
                "name": agent_name,
                "display_name": agent_name.title(),
                "definition": {"model": {"provider": "test", "name": model}, "tools": tools},
            },
            headers=headers,
        )
        assert made.status_code == 201, made.text
    client = openai.OpenAI(base_url=f"{http.url}/v1", api_key=key["key"], max_retries=0)
    return client, headers


def test_the_openai_sdk_lists_completes_and_streams(sdk, http):
    client, headers = sdk
    names = {model.id: model.model_extra.get("name") for model in client.models.list()}
    assert {"echo", "worker"} <= set(names.values())

    plain = client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "**hello** there"}]
    )
    assert plain.choices[0].message.content == "**hello** there"
    assert plain.choices[0].finish_reason == "stop"
    assert plain.usage.total_tokens > 0

    streamed = client.chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": "one two three four"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(streamed)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert chunks[-1].usage.total_tokens > 0

    # an agent that calls a tool: the run's answer, and the call in its event log
    worked = client.chat.completions.create(
        model="worker", messages=[{"role": "user", "content": "write it down"}]
    )
    assert worked.choices[0].message.content
    run_id = worked.id.removeprefix("chatcmpl-")
    events = http.get(f"/executions/{run_id}/events", headers=headers).json()["items"]
    assert "tool_call" in [e["type"] for e in events]


def test_a_session_keeps_the_conversation_and_errors_are_openais(sdk, http):
    client, headers = sdk
    agents = http.get("/agents?owned=true", headers=headers).json()["items"]
    echo = next(a for a in agents if a["name"] == "echo")
    session = http.post("/sessions", json={"agent_id": echo["id"]}, headers=headers).json()
    for said in ("first", "second"):
        answer = client.chat.completions.create(
            model=echo["id"],
            messages=[{"role": "user", "content": said}],
            extra_headers={"X-Agents-Session": session["id"]},
        )
        assert answer.choices[0].message.content == said
    turns = http.get(f"/sessions/{session['id']}/events", headers=headers).json()["items"]
    assert [e["payload"]["content"] for e in turns if e["type"] == "user_message"] == [
        "first",
        "second",
    ]
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="nobody", messages=[{"role": "user", "content": "x"}])
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.UnprocessableEntityError) as no_turn:
        client.chat.completions.create(
            model="echo", messages=[{"role": "assistant", "content": "x"}]
        )
    assert no_turn.value.body["type"] == "invalid_request_error"
    anonymous = openai.OpenAI(base_url=f"{http.url}/v1", api_key="not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        anonymous.models.list()
