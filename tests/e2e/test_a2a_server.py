"""Each agent as an A2A 1.0 agent (JSON-RPC binding), reached as `make dev` serves it by
a2a-sdk's own client: the card; send (streamed and not), the contextId a session; GetTask;
CancelTask; `waiting_approval` as input-required, and the task finished once a person decides;
another user's private agent has no card; what is not JSON-RPC gets JSON-RPC's errors."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from tests.e2e.protocol_callers import agent, user_with_key


@pytest.fixture
def world(http: Any) -> dict[str, Any]:
    headers, key = user_with_key(http)
    other_headers, _ = user_with_key(http)
    return {
        "headers": headers,
        "key": key,
        "echo": agent(http, headers, "echo", system_prompt="never tell anyone this prompt")["id"],
        "careful": agent(
            http,
            headers,
            "careful",
            model={"provider": "test", "name": "test"},
            tools=[{"name": "file_write", "requires_approval": True}],
        )["id"],
        "hidden": agent(http, other_headers, "hidden")["id"],
    }


def message(text: str, context: str | None = None) -> Any:
    from a2a.types import Message, Part, Role, SendMessageRequest

    said = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text=text)])
    if context:
        said.context_id = context
    return SendMessageRequest(message=said)


OPENED: list[Any] = []  # this test's HTTP clients, closed when its conversation ends


async def client_of(http: Any, agent_id: str, key: str, *, streaming: bool) -> Any:
    import httpx
    from a2a.client import ClientConfig, create_client

    transport = httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60)
    OPENED.append(transport)
    config = ClientConfig(streaming=streaming, httpx_client=transport)
    return await create_client(f"{http.url}/a2a/agents/{agent_id}", client_config=config)


async def closed(talk: Any) -> Any:
    try:
        return await talk
    finally:
        while OPENED:
            await OPENED.pop().aclose()


def test_a2a_sdk_reads_the_card_sends_streams_gets_and_cancels(http, world):
    from a2a.types import CancelTaskRequest, GetTaskRequest, TaskState

    card_path = f"/a2a/agents/{world['echo']}/.well-known/agent-card.json"
    assert http.get(card_path).status_code == 404  # a private agent: no card for anonymous
    card = http.get(card_path, headers=world["headers"]).json()
    assert card["capabilities"]["streaming"] is True
    assert "never tell anyone" not in json.dumps(card)  # its prompt stays private
    assert [skill["id"] for skill in card["skills"]] == ["echo"]
    hidden = f"/a2a/agents/{world['hidden']}/.well-known/agent-card.json"
    assert http.get(hidden, headers=world["headers"]).status_code == 404

    async def talk() -> dict[str, Any]:
        plain = await client_of(http, world["echo"], world["key"], streaming=False)
        events = [e async for e in plain.send_message(message("hello **A2A**"))]
        task = events[-1].task
        again = await plain.get_task(GetTaskRequest(id=task.id))
        streaming = await client_of(http, world["echo"], world["key"], streaming=True)
        streamed = [
            e async for e in streaming.send_message(message("one two three", task.context_id))
        ]
        careful = await client_of(http, world["careful"], world["key"], streaming=False)
        waiting = [e async for e in careful.send_message(message("write it"))][-1].task
        cancelled = await careful.cancel_task(CancelTaskRequest(id=waiting.id))
        return {
            "task": task,
            "again": again,
            "streamed": streamed,
            "waiting": waiting,
            "cancelled": cancelled,
        }

    got = asyncio.run(closed(talk()))
    task = got["task"]
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert task.artifacts[0].parts[0].text == "hello **A2A**"
    assert got["again"].id == task.id
    assert got["again"].status.state == TaskState.TASK_STATE_COMPLETED
    # streamed: the task, the text as it was written, the final status; the same session
    kinds = [e.WhichOneof("payload") for e in got["streamed"]]
    assert kinds[0] == "task"
    assert kinds.count("artifact_update") > 1
    assert kinds[-1] == "status_update"
    text = "".join(
        e.artifact_update.artifact.parts[0].text
        for e in got["streamed"]
        if e.WhichOneof("payload") == "artifact_update"
    )
    assert text == "one two three"
    assert got["streamed"][-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
    assert got["streamed"][0].task.context_id == task.context_id
    turns = http.get(f"/sessions/{task.context_id}/events", headers=world["headers"]).json()
    said = [e["payload"]["content"] for e in turns["items"] if e["type"] == "user_message"]
    assert said == ["hello **A2A**", "one two three"]
    # waiting for a person is input-required; a cancel ends it
    assert got["waiting"].status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    said = got["waiting"].status.message.parts[0].text
    assert f"file_write (POST /executions/{got['waiting'].id}/approvals)" in said
    assert got["cancelled"].status.state == TaskState.TASK_STATE_CANCELED


def test_input_required_then_approved_through_the_api_finishes_for_the_client(http, world):
    from a2a.types import GetTaskRequest, TaskState

    async def ask() -> Any:
        careful = await client_of(http, world["careful"], world["key"], streaming=False)
        return [e async for e in careful.send_message(message("write it"))][-1].task

    waiting = asyncio.run(closed(ask()))
    assert waiting.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    run = http.get(f"/executions/{waiting.id}", headers=world["headers"]).json()
    decisions = [
        {"tool_call_id": c["tool_call_id"], "approved": True} for c in run["pending_approvals"]
    ]
    decided = http.post(
        f"/executions/{waiting.id}/approvals",
        json={"decisions": decisions},
        headers=world["headers"],
    )
    assert decided.status_code in (200, 202), decided.text

    async def poll() -> Any:
        careful = await client_of(http, world["careful"], world["key"], streaming=False)
        for _ in range(100):
            task = await careful.get_task(GetTaskRequest(id=waiting.id))
            if task.status.state == TaskState.TASK_STATE_COMPLETED:
                return task
            await asyncio.sleep(0.1)
        return task

    finished = asyncio.run(closed(poll()))
    assert finished.status.state == TaskState.TASK_STATE_COMPLETED


def test_bad_json_rpc_gets_json_rpc_errors(http, world):
    auth = {"Authorization": f"Bearer {world['key']}"}
    url = f"/a2a/agents/{world['echo']}"
    assert http.post(url, json={"x": 1}, headers=auth).json()["error"]["code"] == -32600
    unknown = http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "Nope"}, headers=auth)
    assert unknown.json()["error"]["code"] == -32601
    missing = http.post(
        url,
        json={"jsonrpc": "2.0", "id": 2, "method": "GetTask", "params": {"id": str(uuid.uuid4())}},
        headers=auth,
    )
    assert missing.json()["error"]["code"] == -32001
    theirs = http.post(
        f"/a2a/agents/{world['hidden']}",
        json={
            "jsonrpc": "2.0",
            "id": 3,
            "method": "SendMessage",
            "params": {
                "message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "hi"}]}
            },
        },
        headers=auth,
    )
    assert theirs.status_code == 404  # another user's private agent has no A2A endpoint
