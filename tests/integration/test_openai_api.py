"""The OpenAI chat-completions API over agents (/v1), through the app: models are the agents a
caller may run; a completion is an ordinary run (recorded, authorized, counted); errors come in
OpenAI's shape; an agent the caller may not run is invisible."""

from __future__ import annotations

import json
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from tests.support.agents import create_agent, definition
from tests.support.api import signed_up
from tests.support.backends import answering


def prompts_seen() -> tuple[FunctionModel, list[str]]:
    seen: list[str] = []

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        last = [
            part.content
            for m in messages
            if isinstance(m, ModelRequest)
            for part in m.parts
            if isinstance(part, UserPromptPart)
        ][-1]
        seen.append(str(last))
        return ModelResponse(parts=[TextPart(f"answer {len(seen)}")])

    return FunctionModel(respond), seen


def chat(
    client: Any, headers: dict[str, str], model: str, *messages: tuple[str, str], **more: Any
) -> Any:
    body = {"model": model, "messages": [{"role": r, "content": c} for r, c in messages]} | more
    return client.post("/v1/chat/completions", headers=headers, json=body)


def test_models_are_the_agents_you_may_run_yours_first(client):
    _, headers = signed_up(client)
    _, other = signed_up(client)
    mine = create_agent(client, headers, name="helper")
    private = create_agent(client, other, name="secret-helper")
    listed = client.get("/v1/models", headers=headers).get_json()
    assert listed["object"] == "list"
    ids = [m["id"] for m in listed["data"]]
    assert ids[0] == mine["id"]
    assert private["id"] not in ids
    assert {"object": "model", "name": "helper"}.items() <= listed["data"][0].items()


def test_a_completion_is_a_run_of_the_agent_named_by_id_or_name(client):
    _, headers = signed_up(client)
    agent = create_agent(client, headers, name="helper")
    model, _ = prompts_seen()
    with answering(client, model):
        by_name = chat(client, headers, "helper", ("user", "hello"))
        by_id = chat(client, headers, agent["id"], ("user", "again"))
    assert by_name.status_code == 200, by_name.get_json()
    body = by_name.get_json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "helper"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "answer 1"},
            "finish_reason": "stop",
        }
    ]
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert by_id.get_json()["choices"][0]["message"]["content"] == "answer 2"
    run_id = body["id"].removeprefix("chatcmpl-")
    run = client.get(f"/executions/{run_id}", headers=headers).get_json()
    assert (run["agent_id"], run["status"], run["input"]) == (agent["id"], "succeeded", "hello")


def test_earlier_messages_are_a_transcript_or_the_sessions_history(client):
    _, headers = signed_up(client)
    agent = create_agent(client, headers, name="helper")
    model, seen = prompts_seen()
    session = client.post("/sessions", headers=headers, json={"agent_id": agent["id"]}).get_json()
    with answering(client, model):
        alone = chat(
            client,
            headers,
            "helper",
            ("system", "be terse"),
            ("user", "my name is Ann"),
            ("assistant", "hello Ann"),
            ("user", "what is my name?"),
        )
        in_session = chat(
            client,
            {**headers, "X-Agents-Session": session["id"]},
            "helper",
            ("user", "ignored earlier"),
            ("assistant", "ignored too"),
            ("user", "second turn"),
        )
    assert alone.status_code == 200
    assert seen[0] == (
        "Earlier in this conversation:\nsystem: be terse\nuser: my name is Ann\n"
        "assistant: hello Ann\n\nNow:\nwhat is my name?"
    )
    assert in_session.status_code == 200, in_session.get_json()
    assert seen[1] == "second turn"
    events = client.get(f"/sessions/{session['id']}/events", headers=headers).get_json()
    assert [e["payload"]["content"] for e in events["items"] if e["type"] == "user_message"] == [
        "second turn"
    ]


def test_streamed_completion_sends_chunks_usage_and_done(client):
    _, headers = signed_up(client)
    create_agent(
        client,
        headers,
        name="echo",
        definition=definition(model={"provider": "test", "name": "test-echo"}),
    )
    response = chat(
        client,
        {**headers, "Accept": "text/event-stream"},
        "echo",
        ("user", "one two three"),
        stream=True,
        stream_options={"include_usage": True},
    )
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    lines = [ln for ln in response.get_data(as_text=True).split("\n\n") if ln.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(ln.removeprefix("data: ")) for ln in lines[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "one two three"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] > 0


def test_errors_come_in_openais_shape_and_another_users_agent_is_not_found(client):
    _, headers = signed_up(client)
    _, other = signed_up(client)
    private = create_agent(client, other, name="theirs")
    for model in ("theirs", private["id"], "nothing-here"):
        refused = chat(client, headers, model, ("user", "hi"))
        assert refused.status_code == 404, refused.get_json()
        error = refused.get_json()["error"]
        assert error["type"] == "not_found_error"
        assert error["message"]
    create_agent(client, headers, name="mine")
    no_turn = chat(client, headers, "mine", ("assistant", "no user turn"))
    assert no_turn.status_code == 422
    assert no_turn.get_json()["error"]["type"] == "invalid_request_error"
    assert no_turn.get_json()["error"]["param"] == "messages[0]"
    anonymous = client.post("/v1/chat/completions", json={"model": "mine", "messages": []})
    assert anonymous.status_code == 401
    assert anonymous.get_json()["error"]["type"] == "authentication_error"
