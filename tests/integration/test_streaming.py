"""Streamed runs (`Accept: text/event-stream` on execute and on a session's message): the
model's text as it is generated, tool calls and results as they are committed, the finished
execution last; recorded exactly as the same run made synchronously; a caller that goes away
does not stop the run."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

from tests.integration.test_async_runs import sse_events
from tests.support.agents import create_agent, definition, events_of, tools
from tests.support.api import assert_error, signed_up
from tests.support.backends import answering

SSE = {"Accept": "text/event-stream"}
# each step: the text chunks the model sends, then the tool calls it makes
STEPS: list[tuple[list[str], list[tuple[str, dict[str, Any], str]]]] = [
    (["I will ", "write it ", "down."], [("file_write", {"path": "a.txt", "content": "hi"}, "w1")]),
    (["Wrote ", "a.txt: ", "done."], []),
]


def _step(messages: list[ModelMessage]) -> int:
    return sum(isinstance(part, ToolReturnPart) for message in messages for part in message.parts)


def scripted_model(pause_s: float = 0.0) -> FunctionModel:
    """The same script answered whole (sync) or chunk by chunk (streamed)."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        chunks, calls = STEPS[_step(messages)]
        return ModelResponse(
            parts=[
                TextPart("".join(chunks)),
                *(ToolCallPart(name, args, tool_call_id=call_id) for name, args, call_id in calls),
            ]
        )

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        import asyncio
        import json

        chunks, calls = STEPS[_step(messages)]
        for chunk in chunks:
            await asyncio.sleep(pause_s)
            yield chunk
        for index, (name, args, call_id) in enumerate(calls):
            yield {index: DeltaToolCall(name, json.dumps(args), tool_call_id=call_id)}

    return FunctionModel(respond, stream_function=stream)


def writer_agent(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    return create_agent(client, headers, definition=definition(tools=tools("file_write")))


# FunctionModel guesses token counts, differently for a streamed response than for a whole one:
# real models report them (tests/integration/test_provider_streaming.py)
TOKENS = {"input_tokens", "output_tokens", "total_tokens"}


def comparable(events: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(e["type"], {k: v for k, v in e["payload"].items() if k not in TOKENS}) for e in events]


SAME_FIELDS = ("status", "output", "error", "mode", "workflow_type", "input")


def test_a_streamed_run_sends_text_calls_and_results_and_is_recorded_like_a_sync_one(live):
    _, headers = signed_up(live)
    agent = writer_agent(live, headers)
    with answering(live, scripted_model()):
        sync = live.post(f"/agents/{agent['id']}/execute", headers=headers, json={"input": "go"})
        streamed = live.post(
            f"/agents/{agent['id']}/execute", headers={**headers, **SSE}, json={"input": "go"}
        )
        assert streamed.status_code == 200
        assert streamed.mimetype == "text/event-stream"
        frames = sse_events(streamed.get_data(as_text=True))

    kinds = [f["event"] for f in frames]
    assert kinds == [
        "execution_started",
        "text_delta", "text_delta", "text_delta",
        "tool_call", "tool_result",
        "text_delta", "text_delta", "text_delta",
        "execution",
    ]  # fmt: skip
    import json

    deltas = [json.loads(f["data"])["delta"] for f in frames if f["event"] == "text_delta"]
    assert "".join(deltas) == "I will write it down.Wrote a.txt: done."
    call = json.loads(frames[4]["data"])
    assert call["payload"]["tool_name"] == "file_write"
    assert int(frames[4]["id"]) == call["seq"]
    execution = json.loads(frames[-1]["data"])
    # the first frame and the answer's Location name the run before anything else is sent
    started = json.loads(frames[0]["data"])
    assert started == {
        "id": execution["id"],
        "status": "running",
        "location": f"/executions/{execution['id']}",
    }
    assert streamed.headers["Location"] == f"/executions/{execution['id']}"
    assert "retry:" not in streamed.get_data(as_text=True)  # a POST stream invites no re-POST
    assert execution["status"] == "succeeded"
    assert execution["output"] == "Wrote a.txt: done."

    recorded = live.get(f"/executions/{execution['id']}", headers=headers).get_json()
    expected = sync.get_json()
    for name in SAME_FIELDS:
        assert recorded[name] == expected[name], name
    for name in ("requests", "tool_calls"):
        assert recorded["usage"][name] == expected["usage"][name]
    assert comparable(events_of(live, headers, execution["id"])) == comparable(
        events_of(live, headers, expected["id"])
    )
    # the frames are the recorded events
    stored = {e["seq"]: e for e in events_of(live, headers, execution["id"])}
    for f in frames:
        if "id" in f:
            sent = json.loads(f["data"])
            assert stored[sent["seq"]]["payload"] == sent["payload"]


def test_a_session_turn_streams_and_its_history_carries_on(live):
    _, headers = signed_up(live)
    agent = writer_agent(live, headers)
    session = live.post("/sessions", headers=headers, json={"agent_id": agent["id"]}).get_json()
    with answering(live, scripted_model()):
        streamed = live.post(
            f"/sessions/{session['id']}/messages",
            headers={**headers, **SSE},
            json={"content": "go"},
        )
        frames = sse_events(streamed.get_data(as_text=True))
    assert frames[-1]["event"] == "execution"
    import json

    assert json.loads(frames[-1]["data"])["session_id"] == session["id"]
    # the session's seqs: the streamed ids are the session's event seqs
    events = live.get(f"/sessions/{session['id']}/events", headers=headers).get_json()["items"]
    by_seq = {e["seq"]: e["type"] for e in events}
    for f in frames:
        if "id" in f:
            assert by_seq[int(f["id"])] == f["event"]
    # the next turn sees the streamed turn's messages
    with answering(live, scripted_model()):
        nxt = live.post(
            f"/sessions/{session['id']}/messages", headers=headers, json={"content": "again"}
        )
    assert nxt.status_code == 200, nxt.get_json()


def test_errors_before_the_run_are_json_not_a_stream(live):
    _, headers = signed_up(live)
    _, stranger = signed_up(live)
    agent = writer_agent(live, headers)
    response = live.post(
        f"/agents/{agent['id']}/execute", headers={**stranger, **SSE}, json={"input": "go"}
    )
    assert_error(response, 404)
    response = live.post(
        f"/agents/{agent['id']}/execute",
        headers={**headers, **SSE},
        json={"input": "go", "mode": "never"},
    )
    assert_error(response, 422)


def test_an_async_run_asked_for_a_stream_is_still_accepted_with_202(live, queue):
    _, headers = signed_up(live)
    agent = writer_agent(live, headers)
    response = live.post(
        f"/agents/{agent['id']}/execute",
        headers={**headers, **SSE},
        json={"input": "go", "mode": "async"},
    )
    assert response.status_code == 202
    assert response.mimetype == "application/json"


def test_a_caller_that_goes_away_does_not_stop_the_run(live):
    _, headers = signed_up(live)
    agent = writer_agent(live, headers)
    with answering(live, scripted_model(pause_s=0.2)):
        response = live.post(
            f"/agents/{agent['id']}/execute",
            headers={**headers, **SSE},
            json={"input": "go"},
            buffered=False,
        )
        chunks = iter(response.response)
        first = b""
        while b"text_delta" not in first:
            first += next(chunks)
        response.close()  # the client hangs up mid-run

        deadline = time.monotonic() + 15
        while True:
            runs = live.get(f"/executions?agent_id={agent['id']}", headers=headers).get_json()
            [run] = runs["items"]
            if run["status"] == "succeeded":
                break
            assert run["status"] == "running"
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert run["output"] == "Wrote a.txt: done."
    kinds = [e["type"] for e in events_of(live, headers, run["id"])]
    assert kinds.count("tool_result") == 1


def test_a_streamed_run_that_needs_an_approval_says_so_and_ends_waiting(live):
    _, headers = signed_up(live)
    write = {"name": "file_write", "enabled": True, "config": {}, "requires_approval": True}
    agent = create_agent(live, headers, definition=definition(tools=[write]))
    with answering(live, scripted_model()):
        streamed = live.post(
            f"/agents/{agent['id']}/execute", headers={**headers, **SSE}, json={"input": "go"}
        )
        frames = sse_events(streamed.get_data(as_text=True))
    import json

    kinds = [f["event"] for f in frames]
    assert kinds[-3:] == ["tool_call", "approval_requested", "execution"]
    requested = json.loads(frames[-2]["data"])["payload"]
    assert requested["tool_name"] == "file_write"
    execution = json.loads(frames[-1]["data"])
    assert execution["status"] == "waiting_approval"
    assert execution["pending_approvals"][0]["tool_call_id"] == requested["tool_call_id"]


def held_model(entered: Any, go: Any) -> FunctionModel:
    """Answers once `go` is set (telling `entered` it was called)."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        entered.set()
        assert go.wait(20)
        return ModelResponse(parts=[TextPart("done")])

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        import asyncio

        entered.set()
        assert await asyncio.to_thread(go.wait, 20)
        yield "done"

    return FunctionModel(respond, stream_function=stream)


def test_a_stream_beyond_the_instances_threads_is_refused_before_its_run_is_written(
    live, monkeypatch
):
    """Queued for a thread, a streamed run's lease and timeout would run while it waits, and
    another delivery would run it a second time: with every thread taken, 503 at once."""
    import threading

    from core.runs import live as live_runs

    monkeypatch.setattr(live_runs, "_seats", threading.BoundedSemaphore(1))
    _, headers = signed_up(live)
    agent = create_agent(live, headers)
    entered, go = threading.Event(), threading.Event()
    with answering(live, held_model(entered, go)):
        first = live.post(
            f"/agents/{agent['id']}/execute",
            headers={**headers, **SSE},
            json={"input": "one"},
            buffered=False,
        )
        assert first.status_code == 200
        assert entered.wait(10)
        refused = live.post(
            f"/agents/{agent['id']}/execute", headers={**headers, **SSE}, json={"input": "two"}
        )
        body = assert_error(refused, 503, "too_busy")
        assert '"mode": "async"' in body["message"]
        assert refused.headers["Retry-After"] == "2"
        runs = live.get(f"/executions?agent_id={agent['id']}", headers=headers).get_json()
        assert len(runs["items"]) == 1  # nothing written for the refused one
        go.set()
        frames = sse_events(b"".join(first.response).decode())
        assert frames[-1]["event"] == "execution"
        # the seat is back once the first run's thread is done
        deadline = time.monotonic() + 5
        while True:
            again = live.post(
                f"/agents/{agent['id']}/execute",
                headers={**headers, **SSE},
                json={"input": "three"},
            )
            if again.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert again.status_code == 200
        assert sse_events(again.get_data(as_text=True))[-1]["event"] == "execution"
        # a start refused for another reason gives its seat back too
        missing = live.post(
            "/agents/00000000-0000-4000-8000-000000000000/execute",
            headers={**headers, **SSE},
            json={"input": "four"},
        )
        assert_error(missing, 404)
        assert live_runs._seats.acquire(blocking=False)
        live_runs._seats.release()


def test_a_stream_whose_run_another_delivery_took_over_ends_naming_it_not_half_done(live, db):
    """The stream's thread lost the run's lease (another instance claimed it): the stream ends
    with an error that says where the run goes on, never with a running `execution` as if final."""
    import json
    import threading

    from sqlalchemy import update

    from core.models.executions import AgentExecution

    _, headers = signed_up(live)
    agent = create_agent(live, headers)
    entered, go = threading.Event(), threading.Event()
    with answering(live, held_model(entered, go)):
        response = live.post(
            f"/agents/{agent['id']}/execute",
            headers={**headers, **SSE},
            json={"input": "go"},
            buffered=False,
        )
        assert entered.wait(10)
        run_id = response.headers["Location"].rsplit("/", 1)[1]
        # what another instance's claim does to the row
        db.execute(
            update(AgentExecution)
            .where(AgentExecution.id == run_id)
            .values(attempt=AgentExecution.attempt + 1)
        )
        db.commit()
        go.set()
        frames = sse_events(b"".join(response.response).decode())
    assert [f["event"] for f in frames][-1] == "error", frames
    error = json.loads(frames[-1]["data"])
    assert error["code"] == "unavailable"
    assert error["execution_id"] == run_id
    assert "lost the run's lease" in error["message"]


def test_a_cancel_stops_a_streamed_answer_mid_sentence(live):
    """The console's Stop: the model is still writing when the cancel comes; the run ends
    cancelled within about a heartbeat (a second) instead of at the end of the answer."""
    import asyncio

    sent: list[str] = []

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart("word " * 100)])

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        for n in range(100):  # 10 s of answer
            await asyncio.sleep(0.1)
            sent.append(f"word{n} ")
            yield f"word{n} "

    _, headers = signed_up(live)
    agent = create_agent(live, headers)
    with answering(live, FunctionModel(respond, stream_function=stream)):
        response = live.post(
            f"/agents/{agent['id']}/execute",
            headers={**headers, **SSE},
            json={"input": "go"},
            buffered=False,
        )
        body = b""
        chunks = iter(response.response)
        while b"text_delta" not in body:
            body += next(chunks)
        [started] = [e for e in sse_events(body.decode()) if e["event"] == "execution_started"]
        execution_id = json.loads(started["data"])["id"]
        asked = time.monotonic()
        cancel = live.post(f"/executions/{execution_id}/cancel", headers=headers)
        assert cancel.status_code == 202, cancel.get_json()
        for chunk in chunks:
            body += chunk
        stopped_s = time.monotonic() - asked
    frames = sse_events(body.decode())
    final = json.loads(frames[-1]["data"])
    assert (frames[-1]["event"], final["status"]) == ("execution", "cancelled")
    assert final["error"]["code"] == "cancelled"
    assert stopped_s < 3.0, stopped_s
    assert len(sent) < 50, sent
    run = live.get(f"/executions/{execution_id}", headers=headers).get_json()
    assert run["status"] == "cancelled"


def test_the_offline_echo_model_streams_the_message_back_word_by_word(live):
    _, headers = signed_up(live)
    echo = definition(model={"provider": "test", "name": "test-echo"})
    agent = create_agent(live, headers, definition=echo)
    message = "# Plan\n\n- **one**\n- `two`\n"
    response = live.post(
        f"/agents/{agent['id']}/execute", headers={**headers, **SSE}, json={"input": message}
    )
    frames = sse_events(response.get_data(as_text=True))
    deltas = [json.loads(f["data"])["delta"] for f in frames if f["event"] == "text_delta"]
    assert len(deltas) > 3
    assert "".join(deltas) == message
    assert json.loads(frames[-1]["data"])["output"] == message
