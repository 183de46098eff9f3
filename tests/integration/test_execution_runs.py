"""Synchronous runs scripted with pydantic-ai FunctionModel: what gets recorded, and how each
kind of ending (limits, timeout, model error, bad output) becomes an execution status."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from core.config import get_settings
from tests.support.agents import create_agent, definition, events_of, execute, tools
from tests.support.api import signed_up
from tests.support.backends import answering

Script = list[ModelResponse]


def scripted(*responses: ModelResponse, seen: list[AgentInfo] | None = None) -> FunctionModel:
    """A model that answers with the given responses in turn (the last one repeats)."""
    queue = list(responses)

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if seen is not None:
            seen.append(info)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return FunctionModel(respond)


def call(tool: str, args: dict[str, Any], call_id: str = "c1") -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart(tool, args, tool_call_id=call_id)])


def text(content: str, tokens: int = 0) -> ModelResponse:
    usage = RequestUsage(input_tokens=tokens, output_tokens=tokens) if tokens else RequestUsage()
    return ModelResponse(parts=[TextPart(content)], usage=usage)


def run(
    client: Any, headers: dict[str, str], model: FunctionModel, **fields: Any
) -> dict[str, Any]:
    agent = create_agent(client, headers, definition=definition(**fields))
    with answering(client, model):
        response = execute(client, headers, agent["id"])
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


@pytest.fixture
def user(client):
    return signed_up(client)


def test_tool_calls_and_results_are_recorded_in_order(client, user):
    _, headers = user
    model = scripted(
        call("file_write", {"path": "notes/a.txt", "content": "alpha"}, "w1"),
        call("file_read", {"path": "notes/a.txt"}, "r1"),
        text("done"),
    )
    execution = run(client, headers, model, tools=tools("file_write", "file_read"))

    assert execution["status"] == "succeeded", execution["error"]
    assert execution["output"] == "done"
    assert execution["usage"]["requests"] == 3
    assert execution["usage"]["tool_calls"] == 2
    events = events_of(client, headers, execution["id"])
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    kinds = [(e["type"], e["payload"].get("tool_name")) for e in events]
    assert kinds == [
        ("user_message", None),
        ("model_response", None),
        ("tool_call", "file_write"),
        ("tool_result", "file_write"),
        ("model_response", None),
        ("tool_call", "file_read"),
        ("tool_result", "file_read"),
        ("model_response", None),
        ("status", None),
    ]
    assert "alpha" in events[6]["payload"]["content"]
    assert events[-1]["payload"] == {"status": "succeeded"}


def test_a_failing_tool_call_reaches_the_model_as_a_retry(client, user):
    _, headers = user
    model = scripted(
        call("file_read", {"path": "../../etc/passwd"}, "bad"),
        call("file_read", {"path": "missing.txt"}, "missing"),
        text("gave up politely"),
    )
    execution = run(client, headers, model, tools=tools("file_read"))

    assert execution["status"] == "succeeded"
    results = [e for e in events_of(client, headers, execution["id"]) if e["type"] == "tool_result"]
    assert [r["payload"]["outcome"] for r in results] == ["retry", "retry"]
    assert "/etc/passwd" not in json.dumps(results).replace("../../etc/passwd", "")


def test_invalid_tool_arguments_are_a_retry_not_a_crash(client, user):
    _, headers = user
    model = scripted(call("file_read", {"file": 3}), text("ok"))
    execution = run(client, headers, model, tools=tools("file_read"))

    assert execution["status"] == "succeeded"
    results = [e for e in events_of(client, headers, execution["id"]) if e["type"] == "tool_result"]
    assert results[0]["payload"]["outcome"] == "retry"


def test_only_enabled_tools_are_offered(client, user):
    _, headers = user
    seen: list[AgentInfo] = []
    refs = [*tools("file_read", "grep"), {"name": "find", "enabled": False, "config": {}}]
    run(client, headers, scripted(text("ok"), seen=seen), tools=refs)

    assert sorted(t.name for t in seen[0].function_tools) == ["file_read", "grep"]


def test_an_injected_instruction_cannot_reach_a_tool_the_agent_lacks(client, user):
    _, headers = user
    # the model obeys a workspace file telling it to write; the agent has only file_read
    model = scripted(
        call("file_read", {"path": "todo.txt"}, "r1"),
        call("file_write", {"path": "pwned.txt", "content": "owned"}, "w1"),
        text("finished"),
    )
    agent = create_agent(client, headers, definition=definition(tools=tools("file_read")))
    with answering(client, model):
        execution = execute(client, headers, agent["id"]).get_json()

    events = events_of(client, headers, execution["id"])
    write_results = [
        e
        for e in events
        if e["type"] == "tool_result" and e["payload"]["tool_name"] == "file_write"
    ]
    assert write_results
    assert all(r["payload"]["outcome"] == "retry" for r in write_results)
    workspaces = get_settings().workspaces_root / "executions" / execution["id"]
    assert not (workspaces / "pwned.txt").exists()


@pytest.mark.parametrize(
    ("limits", "script"),
    [
        ({"max_requests": 2}, [call("find", {}, "1"), call("find", {}, "2"), text("never")]),
        ({"max_tool_calls": 1}, [call("find", {}, "1"), call("find", {}, "2"), text("never")]),
        ({"max_total_tokens": 100}, [text("expensive", tokens=80)]),
    ],
    ids=["max_requests", "max_tool_calls", "max_total_tokens"],
)
def test_each_limit_ends_the_run_as_failed(client, user, limits, script):
    _, headers = user
    execution = run(client, headers, scripted(*script), tools=tools("find"), limits=limits)

    assert execution["status"] == "failed"
    assert execution["error"]["code"] == "limit_exceeded"
    assert execution["finished_at"] is not None
    kinds = [e["type"] for e in events_of(client, headers, execution["id"])]
    assert kinds[-2:] == ["error", "status"]


def test_a_run_past_its_timeout_is_timed_out(client, user):
    _, headers = user

    async def slow(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        await asyncio.sleep(5)
        return text("too late")

    execution = run(client, headers, FunctionModel(slow), limits={"timeout_s": 0.3})

    assert execution["status"] == "timed_out"
    assert execution["error"]["code"] == "timeout"


def test_a_model_error_fails_the_run_with_a_clear_message(client, user):
    _, headers = user

    def unavailable(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise ModelHTTPError(503, "gemini-2.5-flash", body={"error": "overloaded"})

    execution = run(client, headers, FunctionModel(unavailable))

    assert execution["status"] == "failed"
    assert execution["error"]["code"] == "model_error"
    assert "503" in execution["error"]["message"]


SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer", "minimum": 0}},
    "required": ["answer"],
    "additionalProperties": False,
}


def structured(args: dict[str, Any]) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart("final_result", args, tool_call_id="out")])


def test_structured_output_matching_the_schema_is_the_output(client, user):
    _, headers = user
    execution = run(client, headers, scripted(structured({"answer": 42})), output_schema=SCHEMA)
    assert execution["status"] == "succeeded", execution["error"]
    assert execution["output"] == {"answer": 42}


def test_structured_output_violating_the_schema_is_retried_then_fails(client, user):
    _, headers = user
    execution = run(client, headers, scripted(structured({"answer": -1})), output_schema=SCHEMA)
    assert execution["status"] == "failed"
    assert execution["error"]["code"] == "model_behavior"


def test_structured_output_corrected_after_a_retry_succeeds(client, user):
    _, headers = user
    model = scripted(structured({"answer": "many"}), structured({"answer": 7}))
    execution = run(client, headers, model, output_schema=SCHEMA)
    assert execution["status"] == "succeeded"
    assert execution["output"] == {"answer": 7}


def test_messages_are_kept_for_replay(client, user, db):
    from pydantic_ai.messages import ModelMessagesTypeAdapter

    from core.models.executions import AgentExecution

    _, headers = user
    execution = run(client, headers, scripted(text("hi there")))
    row = db.get(AgentExecution, uuid.UUID(execution["id"]))
    messages = ModelMessagesTypeAdapter.validate_python(row.messages)
    assert isinstance(messages[0], ModelRequest)
    assert isinstance(messages[-1], ModelResponse)
    assert not any(isinstance(p, (ToolReturnPart, RetryPromptPart)) for p in messages[0].parts)
