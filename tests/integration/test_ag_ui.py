"""AG-UI: a turn asked for with the ag-ui-protocol package's own types, answered as AG-UI
events; the thread is a session of the caller, made when new, whose turns are recorded like
any other; someone else's thread is a 404."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from ag_ui.core import (
    AssistantMessage,
    BaseEvent,
    EventType,
    RunAgentInput,
    TextInputContent,
    UserMessage,
)
from pydantic import TypeAdapter

from tests.integration.test_streaming import scripted_model, writer_agent
from tests.support.api import assert_error, signed_up
from tests.support.backends import answering

try:
    from ag_ui.core import Event
except ImportError:  # pragma: no cover
    Event = BaseEvent  # type: ignore[misc,assignment]

EVENTS: TypeAdapter[Any] = TypeAdapter(Event)


def run_input(thread_id: str, *messages: Any, run_id: str | None = None) -> dict[str, Any]:
    return RunAgentInput(
        thread_id=thread_id,
        run_id=run_id or uuid.uuid4().hex,
        state=None,
        messages=list(messages),
        tools=[],
        context=[],
        forwarded_props=None,
    ).model_dump(mode="json", by_alias=True, exclude_none=True)


def events_of(response: Any) -> list[Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/event-stream"
    return [
        EVENTS.validate_python(json.loads(line[len("data: ") :]))
        for line in response.get_data(as_text=True).splitlines()
        if line.startswith("data: ")
    ]


def test_a_turn_over_ag_ui_streams_the_protocol_events_and_is_a_session_turn(live):
    _, headers = signed_up(live)
    agent = writer_agent(live, headers)
    thread = str(uuid.uuid4())
    with answering(live, scripted_model()):
        response = live.post(
            f"/agents/{agent['id']}/ag-ui",
            headers={**headers, "Accept": "text/event-stream"},
            json=run_input(thread, UserMessage(id="u1", content="write it down")),
        )
        events = events_of(response)

    kinds = [event.type for event in events]
    assert kinds[0] == EventType.RUN_STARTED
    assert events[0].thread_id == thread
    assert kinds[-1] == EventType.RUN_FINISHED
    calls = [e for e in events if e.type == EventType.TOOL_CALL_START]
    assert [c.tool_call_name for c in calls] == ["file_write"]
    # consecutive text deltas as one
    squeezed = [k for i, k in enumerate(kinds) if i == 0 or k != kinds[i - 1]]
    assert squeezed == [
        EventType.RUN_STARTED,
        EventType.TEXT_MESSAGE_START,
        EventType.TEXT_MESSAGE_CONTENT,
        EventType.TEXT_MESSAGE_END,
        EventType.TOOL_CALL_START,
        EventType.TOOL_CALL_ARGS,
        EventType.TOOL_CALL_END,
        EventType.TOOL_CALL_RESULT,
        EventType.TEXT_MESSAGE_START,
        EventType.TEXT_MESSAGE_CONTENT,
        EventType.TEXT_MESSAGE_END,
        EventType.RUN_FINISHED,
    ], squeezed
    text = "".join(e.delta for e in events if e.type == EventType.TEXT_MESSAGE_CONTENT)
    assert text == "I will write it down.Wrote a.txt: done."
    args = "".join(e.delta for e in events if e.type == EventType.TOOL_CALL_ARGS)
    assert json.loads(args) == {"path": "a.txt", "content": "hi"}

    # the thread is a session of the caller, with the turn recorded like any other
    session = live.get(f"/sessions/{thread}", headers=headers)
    assert session.status_code == 200
    assert session.get_json()["agent_id"] == agent["id"]
    [run] = live.get(f"/executions?session_id={thread}", headers=headers).get_json()["items"]
    assert run["status"] == "succeeded"
    assert run["input"] == "write it down"
    assert run["output"] == "Wrote a.txt: done."

    # the next turn continues the session (the client's history is not replayed)
    with answering(live, scripted_model()):
        again = live.post(
            f"/agents/{agent['id']}/ag-ui",
            headers=headers,
            json=run_input(
                thread,
                UserMessage(id="u1", content="write it down"),
                AssistantMessage(id="a1", content="Wrote a.txt: done."),
                UserMessage(id="u2", content=[TextInputContent(text="once more")]),
            ),
        )
        assert events_of(again)[-1].type == EventType.RUN_FINISHED
    runs = live.get(f"/executions?session_id={thread}", headers=headers).get_json()["items"]
    assert sorted(r["input"] for r in runs) == ["once more", "write it down"]


def test_the_same_run_id_does_not_run_twice(live):
    _, headers = signed_up(live)
    agent = writer_agent(live, headers)
    thread = str(uuid.uuid4())
    body = run_input(thread, UserMessage(id="u1", content="go"), run_id="run-1")
    with answering(live, scripted_model()):
        first = events_of(live.post(f"/agents/{agent['id']}/ag-ui", headers=headers, json=body))
        second = events_of(live.post(f"/agents/{agent['id']}/ag-ui", headers=headers, json=body))
    assert first[-1].type == second[-1].type == EventType.RUN_FINISHED
    replayed = "".join(e.delta for e in second if e.type == EventType.TEXT_MESSAGE_CONTENT)
    assert replayed == "Wrote a.txt: done."
    runs = live.get(f"/executions?session_id={thread}", headers=headers).get_json()["items"]
    assert len(runs) == 1


@pytest.mark.parametrize("run_id", ["lauf-für-heute", "r" * 190, "a run id"])
def test_a_run_id_that_is_no_idempotency_key_as_it_is_still_runs_once(live, run_id):
    """Any runId AG-UI allows: one too long or not printable ASCII for an idempotency key goes
    by its digest (it answered 500 before)."""
    _, headers = signed_up(live)
    agent = writer_agent(live, headers)
    thread = str(uuid.uuid4())
    body = run_input(thread, UserMessage(id="u1", content="go"), run_id=run_id)
    with answering(live, scripted_model()):
        first = events_of(live.post(f"/agents/{agent['id']}/ag-ui", headers=headers, json=body))
        second = events_of(live.post(f"/agents/{agent['id']}/ag-ui", headers=headers, json=body))
    assert first[-1].type == second[-1].type == EventType.RUN_FINISHED
    runs = live.get(f"/executions?session_id={thread}", headers=headers).get_json()["items"]
    assert len(runs) == 1


def test_someone_elses_thread_is_a_404_and_bad_input_a_422(live):
    _, owner = signed_up(live)
    agent = writer_agent(live, owner)
    session = live.post("/sessions", headers=owner, json={"agent_id": agent["id"]}).get_json()
    _, stranger = signed_up(live)
    theirs = writer_agent(live, stranger)
    response = live.post(
        f"/agents/{theirs['id']}/ag-ui",
        headers=stranger,
        json=run_input(session["id"], UserMessage(id="u1", content="hi")),
    )
    assert_error(response, 404, "session_not_found")
    # the owner's thread of another agent
    other = writer_agent(live, owner)
    response = live.post(
        f"/agents/{other['id']}/ag-ui",
        headers=owner,
        json=run_input(session["id"], UserMessage(id="u1", content="hi")),
    )
    assert_error(response, 409, "session_agent_mismatch")
    # no message, a thread id that is no session id, not AG-UI at all
    for body in (
        {"threadId": str(uuid.uuid4()), "runId": "r", "messages": []},
        run_input("thread-1", UserMessage(id="u1", content="hi")),
        {"threadId": str(uuid.uuid4()), "runId": "r", "messages": [{"role": "nobody"}]},
        {"threadId": str(uuid.uuid4()), "runId": "r", "messages": [{"content": "no role"}]},
    ):
        assert_error(live.post(f"/agents/{agent['id']}/ag-ui", headers=owner, json=body), 422)
    # another user's agent
    response = live.post(
        f"/agents/{theirs['id']}/ag-ui",
        headers=owner,
        json=run_input(str(uuid.uuid4()), UserMessage(id="u1", content="hi")),
    )
    assert_error(response, 404)


def test_a_failed_run_ends_with_run_error(live):
    from pydantic_ai.messages import ModelMessage, ModelResponse
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    def broken(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise RuntimeError("boom")

    async def broken_stream(messages: list[ModelMessage], info: AgentInfo) -> Any:
        raise RuntimeError("boom")
        yield ""

    _, headers = signed_up(live)
    agent = writer_agent(live, headers)
    with answering(live, FunctionModel(broken, stream_function=broken_stream)):
        events = events_of(
            live.post(
                f"/agents/{agent['id']}/ag-ui",
                headers=headers,
                json=run_input(str(uuid.uuid4()), UserMessage(id="u1", content="hi")),
            )
        )
    assert events[0].type == EventType.RUN_STARTED
    assert events[-1].type == EventType.RUN_ERROR
    assert "failed" in events[-1].message


def test_a_list_that_ends_without_a_new_user_message_runs_nothing(live):
    """A client's list ending in the assistant's answer or a tool result has no new turn: the
    stream says so as AG-UI does (RUN_ERROR), and the earlier user message is not run again.
    Nothing is written: no run, no session."""
    from ag_ui.core import ToolMessage

    _, headers = signed_up(live)
    agent = writer_agent(live, headers)
    thread = str(uuid.uuid4())
    for last in (
        AssistantMessage(id="a1", content="done"),
        ToolMessage(id="t1", content="42", tool_call_id="c1"),
        UserMessage(id="u2", content="   "),
    ):
        body = run_input(thread, UserMessage(id="u1", content="write it down"), last)
        response = live.post(f"/agents/{agent['id']}/ag-ui", headers=headers, json=body)
        assert "Location" not in response.headers
        events = events_of(response)
        assert [e.type for e in events] == [EventType.RUN_STARTED, EventType.RUN_ERROR]
        assert "the last message must be the user's" in events[-1].message
    assert live.get(f"/executions?session_id={thread}", headers=headers).get_json()["items"] == []
    assert live.get(f"/sessions/{thread}", headers=headers).status_code == 404


def test_a_retried_run_id_tells_how_its_run_ended(live, queue):
    """A retry gets its earlier run's end, never a false success: failed is RUN_ERROR, waiting
    for approval says so, still running is a 409 pointing at the run."""
    from pydantic_ai.messages import ModelMessage, ModelResponse
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    from tests.integration.test_approvals import WRITE
    from tests.support.agents import create_agent, definition

    def broken(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise RuntimeError("boom")

    async def broken_stream(messages: list[ModelMessage], info: AgentInfo) -> Any:
        raise RuntimeError("boom")
        yield ""

    _, headers = signed_up(live)
    agent = writer_agent(live, headers)
    failed = run_input(str(uuid.uuid4()), UserMessage(id="u1", content="hi"), run_id="r-failed")
    with answering(live, FunctionModel(broken, stream_function=broken_stream)):
        first = events_of(live.post(f"/agents/{agent['id']}/ag-ui", headers=headers, json=failed))
    again = events_of(live.post(f"/agents/{agent['id']}/ag-ui", headers=headers, json=failed))
    assert first[-1].type == again[-1].type == EventType.RUN_ERROR
    assert "failed" in again[-1].message

    waits = create_agent(live, headers, definition=definition(tools=[WRITE]))["id"]
    waiting = run_input(str(uuid.uuid4()), UserMessage(id="u1", content="go"), run_id="r-wait")
    with answering(live, scripted_model()):
        events_of(live.post(f"/agents/{waits}/ag-ui", headers=headers, json=waiting))
        replay = events_of(live.post(f"/agents/{waits}/ag-ui", headers=headers, json=waiting))
    said = "".join(e.delta for e in replay if e.type == EventType.TEXT_MESSAGE_CONTENT)
    assert "waiting for a person to approve or deny: file_write" in said

    # a run of that runId still queued (an async start with the same key) is not reported
    thread = str(uuid.uuid4())
    warm = live.post(
        f"/agents/{agent['id']}/ag-ui",
        headers=headers,
        json=run_input(thread, UserMessage(id="u1", content="hi"), run_id="warm"),
    )
    events_of(warm)  # read to its end: the turn is over
    queued = live.post(
        f"/sessions/{thread}/messages",
        headers=headers,
        json={"content": "hi", "mode": "async", "idempotency_key": f"ag-ui:{thread}:r-busy"},
    )
    assert queued.status_code == 202, queued.get_json()
    busy = live.post(
        f"/agents/{agent['id']}/ag-ui",
        headers=headers,
        json=run_input(thread, UserMessage(id="u2", content="hi"), run_id="r-busy"),
    )
    assert_error(busy, 409, "run_in_progress")
    assert busy.headers["Location"] == f"/executions/{queued.get_json()['id']}"


def test_the_same_run_id_on_another_thread_is_a_run_of_that_thread(live):
    _, headers = signed_up(live)
    agent = writer_agent(live, headers)
    one, two = str(uuid.uuid4()), str(uuid.uuid4())
    with answering(live, scripted_model()):
        for thread in (one, two):
            body = run_input(thread, UserMessage(id="u1", content="go"), run_id="same")
            events_of(live.post(f"/agents/{agent['id']}/ag-ui", headers=headers, json=body))
    for thread in (one, two):
        runs = live.get(f"/executions?session_id={thread}", headers=headers).get_json()["items"]
        assert len(runs) == 1
