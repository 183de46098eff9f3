"""Asynchronous executions: 202 and a task, the worker's claim and fencing, duplicate and
concurrent deliveries, durable resume after a crash, cancellation and the sweeper."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy import select, update

from core.clock import utcnow
from core.config import get_settings
from core.models.executions import AgentExecution
from core.models.sessions import Event
from core.runs.backends import Backends
from tests.support.agents import create_agent, definition, events_of, tools
from tests.support.api import assert_error, signed_up
from tests.support.backends import answering


class Crash(BaseException):
    """Stands in for the worker process dying (not an Exception: nothing may catch it)."""


def scripted(*steps: Any) -> FunctionModel:
    """Each step is a ModelResponse to return, or an exception to raise, in turn."""
    queue = list(steps)

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        step = queue.pop(0)
        if isinstance(step, BaseException):
            raise step
        assert isinstance(step, ModelResponse)
        return step

    return FunctionModel(respond)


def start_async(client: Any, headers: dict[str, str], agent_id: str, **body: Any) -> Any:
    return client.post(
        f"/agents/{agent_id}/execute", headers=headers, json={"input": "go", "mode": "async"} | body
    )


def test_async_execute_answers_202_and_enqueues_ids_only(client, queue):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    response = start_async(client, headers, agent["id"])

    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued"
    assert response.headers["Location"] == f"/executions/{body['id']}"
    [task] = queue.tasks
    assert task.path == f"/tasks/executions/{body['id']}"
    assert task.payload == {"execution_id": body["id"]}


def test_the_worker_runs_it_and_a_duplicate_delivery_is_a_no_op(client, queue, worker_headers):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    execution = start_async(client, headers, agent["id"]).get_json()
    path = queue.tasks[0].path

    first = client.post(path, headers=worker_headers)
    assert first.status_code == 200, first.get_json()
    done = client.get(f"/executions/{execution['id']}", headers=headers).get_json()
    assert done["status"] == "succeeded"
    events = events_of(client, headers, execution["id"])

    again = client.post(path, headers=worker_headers)
    assert again.status_code == 200
    assert events_of(client, headers, execution["id"]) == events


def test_the_same_idempotency_key_returns_the_same_async_execution(client, queue):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    first = start_async(client, headers, agent["id"], idempotency_key="k-1")
    second = start_async(client, headers, agent["id"], idempotency_key="k-1")
    assert second.status_code == 202
    assert first.get_json()["id"] == second.get_json()["id"]
    assert len(queue.tasks) == 1


def test_a_delivery_during_a_live_lease_is_told_to_retry(client, queue, worker_headers, db):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    execution = start_async(client, headers, agent["id"]).get_json()
    db.execute(
        update(AgentExecution)
        .where(AgentExecution.id == uuid.UUID(execution["id"]))
        .values(status="running", attempt=1, lease_expires_at=utcnow() + timedelta(seconds=30))
    )
    response = client.post(queue.tasks[0].path, headers=worker_headers)
    assert response.status_code == 503
    assert 1 <= int(response.headers["Retry-After"]) <= 31


@pytest.mark.parametrize("credentials", [{}, {"X-Tasks-Secret": "wrong"}])
def test_the_worker_refuses_callers_without_the_secret(client, queue, credentials):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    start_async(client, headers, agent["id"])
    response = client.post(queue.tasks[0].path, headers=credentials)
    assert response.status_code in (401, 403)


def test_a_crashed_worker_resumes_without_repeating_a_saved_tool_call(
    client, queue, worker_headers, db
):
    _, headers = signed_up(client)
    agent = create_agent(
        client, headers, definition=definition(tools=tools("file_write", "file_read"))
    )
    execution = start_async(client, headers, agent["id"]).get_json()
    path = queue.tasks[0].path
    write = ModelResponse(parts=[ToolCallPart("file_write", {"path": "a.txt", "content": "hi"})])
    read = ModelResponse(parts=[ToolCallPart("file_read", {"path": "a.txt"})])

    # attempt 1: writes the file (saved), then dies while asking the model for its next step
    with answering(client, scripted(write, Crash())), pytest.raises(Crash):
        client.post(path, headers=worker_headers)
    # the lease of the dead worker runs out
    db.execute(
        update(AgentExecution)
        .where(AgentExecution.id == uuid.UUID(execution["id"]))
        .values(lease_expires_at=utcnow() - timedelta(seconds=1))
    )
    with answering(client, scripted(read, ModelResponse(parts=[TextPart("all done")]))):
        assert client.post(path, headers=worker_headers).status_code == 200

    done = client.get(f"/executions/{execution['id']}", headers=headers).get_json()
    assert done["status"] == "succeeded"
    assert done["output"] == "all done"
    events = events_of(client, headers, execution["id"])
    calls = [e["payload"]["tool_name"] for e in events if e["type"] == "tool_call"]
    assert calls == ["file_write", "file_read"]  # the saved write did not run again
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    row = db.get(AgentExecution, uuid.UUID(execution["id"]))
    db.refresh(row)
    assert row.attempt == 2


def test_a_worker_dying_before_anything_was_saved_starts_over_cleanly(
    client, queue, worker_headers, db
):
    _, headers = signed_up(client)
    agent = create_agent(client, headers, definition=definition(tools=tools("file_write")))
    execution = start_async(client, headers, agent["id"]).get_json()
    path = queue.tasks[0].path
    with answering(client, scripted(Crash())), pytest.raises(Crash):
        client.post(path, headers=worker_headers)
    db.execute(
        update(AgentExecution)
        .where(AgentExecution.id == uuid.UUID(execution["id"]))
        .values(lease_expires_at=utcnow() - timedelta(seconds=1))
    )
    with answering(client, scripted(ModelResponse(parts=[TextPart("fresh start")]))):
        assert client.post(path, headers=worker_headers).status_code == 200
    events = events_of(client, headers, execution["id"])
    assert [e["type"] for e in events] == ["user_message", "model_response", "status"]
    assert (
        client.get(f"/executions/{execution['id']}", headers=headers).get_json()["output"]
        == "fresh start"
    )


def test_a_transient_model_failure_asks_for_a_retry_and_keeps_the_run(
    client, queue, worker_headers
):
    from pydantic_ai.exceptions import ModelHTTPError

    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    execution = start_async(client, headers, agent["id"]).get_json()
    path = queue.tasks[0].path
    with answering(client, scripted(ModelHTTPError(503, "m", body="overloaded"))):
        assert client.post(path, headers=worker_headers).status_code == 503
    assert (
        client.get(f"/executions/{execution['id']}", headers=headers).get_json()["status"]
        == "running"
    )
    with answering(client, scripted(ModelResponse(parts=[TextPart("second time lucky")]))):
        assert client.post(path, headers=worker_headers).status_code == 200
    done = client.get(f"/executions/{execution['id']}", headers=headers).get_json()
    assert (done["status"], done["output"]) == ("succeeded", "second time lucky")


def test_cancel_a_queued_execution_at_once_and_an_ended_one_is_409(client, queue, worker_headers):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    execution = start_async(client, headers, agent["id"]).get_json()
    cancelled = client.post(f"/executions/{execution['id']}/cancel", headers=headers)
    assert cancelled.status_code == 202
    assert cancelled.get_json()["status"] == "cancelled"
    assert client.post(queue.tasks[0].path, headers=worker_headers).status_code == 200
    assert_error(client.post(f"/executions/{execution['id']}/cancel", headers=headers), 409)


def test_cancel_during_a_run_stops_it_at_the_next_step(client, queue, worker_headers):
    from core.db import transaction

    _, headers = signed_up(client)
    agent = create_agent(client, headers, definition=definition(tools=tools("find")))
    execution = start_async(client, headers, agent["id"]).get_json()
    execution_id = uuid.UUID(execution["id"])
    calls = 0

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        nonlocal calls
        calls += 1
        if calls == 2:  # the user cancels while the model thinks about step 2
            with transaction() as db:
                db.execute(
                    update(AgentExecution)
                    .where(AgentExecution.id == execution_id)
                    .values(cancel_requested_at=utcnow())
                )
        return ModelResponse(parts=[ToolCallPart("find", {}, tool_call_id=f"f{calls}")])

    with answering(client, FunctionModel(respond)):
        assert client.post(queue.tasks[0].path, headers=worker_headers).status_code == 200
    done = client.get(f"/executions/{execution['id']}", headers=headers).get_json()
    assert done["status"] == "cancelled"
    assert calls == 2
    kinds = [e["type"] for e in events_of(client, headers, execution["id"])]
    assert kinds.count("tool_result") == 1  # the tool the model asked for after cancel never ran
    assert kinds[-1] == "status"


def test_the_sweeper_requeues_stuck_executions_and_fails_exhausted_ones(
    client, queue, worker_headers, db
):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    stuck = start_async(client, headers, agent["id"]).get_json()
    dead = start_async(client, headers, agent["id"]).get_json()
    old = utcnow() - timedelta(minutes=5)
    db.execute(
        update(AgentExecution)
        .where(AgentExecution.id == uuid.UUID(stuck["id"]))
        .values(created_at=old)
    )
    db.execute(
        update(AgentExecution)
        .where(AgentExecution.id == uuid.UUID(dead["id"]))
        .values(
            status="running", attempt=get_settings().execution_max_attempts, lease_expires_at=old
        )
    )
    queue.tasks.clear()
    response = client.post("/tasks/sweep", headers=worker_headers)
    assert response.status_code == 200
    assert response.get_json()["requeued"] >= 1
    assert any(t.path.endswith(stuck["id"]) for t in queue.tasks)
    failed = client.get(f"/executions/{dead['id']}", headers=headers).get_json()
    assert (failed["status"], failed["error"]["code"]) == ("failed", "too_many_attempts")


# -- real commits: concurrency -------------------------------------------------------------------


def test_fifty_concurrent_deliveries_run_the_model_once(engine):
    """No `db` fixture: every delivery commits for real, as separate workers would."""
    from core.db import transaction
    from core.models.agents import Agent, AgentVersion
    from core.models.users import User
    from core.services.worker import deliver_execution

    settings = get_settings()
    with transaction() as db:
        user = User(
            username=f"c_{uuid.uuid4().hex[:8]}",
            email=f"{uuid.uuid4().hex[:8]}@example.com",
            password_hash="x",
        )
        db.add(user)
        db.flush()
        agent = Agent(
            id=uuid.uuid4(),
            name="concurrent",
            display_name="C",
            owner_id=user.id,
            definition=definition(),
        )
        db.add(agent)
        db.flush()
        db.add(AgentVersion(agent_id=agent.id, version="1.0.0", definition=definition()))
        execution = AgentExecution(
            id=uuid.uuid4(),
            agent_id=agent.id,
            agent_version="1.0.0",
            user_id=user.id,
            input="once",
            mode="async",
        )
        db.add(execution)
        execution_id = execution.id
    model_calls = 0
    lock = threading.Lock()

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        nonlocal model_calls
        with lock:
            model_calls += 1
        return ModelResponse(parts=[TextPart("only once")])

    statuses: list[int] = []
    start = threading.Barrier(50)

    def deliver() -> None:
        start.wait()
        delivery = deliver_execution(execution_id, backends)
        statuses.append(200 if delivery.retry_after_s is None else 503)

    backends = Backends(settings, model=FunctionModel(respond))
    threads = [threading.Thread(target=deliver) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert model_calls == 1
    assert set(statuses) <= {200, 503}
    with transaction() as db:
        row = db.get(AgentExecution, execution_id)
        assert row is not None
        assert row.status == "succeeded"
        seqs = list(db.scalars(select(Event.seq).where(Event.execution_id == execution_id)))
    assert sorted(seqs) == list(range(1, len(seqs) + 1))


def sse_events(text: str) -> list[dict[str, str]]:
    frames = []
    for block in text.strip().split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != ":"
        )
        if "event" in fields:
            frames.append(fields)
    return frames


def test_events_stream_as_server_sent_events_and_resume_after_last_event_id(
    client, queue, worker_headers
):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    execution = start_async(client, headers, agent["id"]).get_json()
    client.post(queue.tasks[0].path, headers=worker_headers)
    path = f"/executions/{execution['id']}/events"

    response = client.get(path, headers={**headers, "Accept": "text/event-stream"})
    assert response.mimetype == "text/event-stream"
    frames = sse_events(response.get_data(as_text=True))
    assert frames[0]["event"] == "user_message"
    assert frames[-1]["event"] == "end"
    seqs = [int(f["id"]) for f in frames if "id" in f]
    assert seqs == list(range(1, len(seqs) + 1))

    resumed = client.get(
        path, headers={**headers, "Accept": "text/event-stream", "Last-Event-ID": str(seqs[1])}
    )
    later = [int(f["id"]) for f in sse_events(resumed.get_data(as_text=True)) if "id" in f]
    assert later == seqs[2:]


def test_a_strangers_event_stream_is_a_404(client, queue):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    execution = start_async(client, headers, agent["id"]).get_json()
    _, stranger = signed_up(client)
    response = client.get(
        f"/executions/{execution['id']}/events",
        headers={**stranger, "Accept": "text/event-stream"},
    )
    assert_error(response, 404, "execution_not_found")


def test_the_heartbeat_extends_the_lease_during_a_long_model_call(
    client, queue, worker_headers, monkeypatch
):
    import asyncio

    from core.config import reset_settings
    from core.db import transaction

    monkeypatch.setenv("EXECUTION_LEASE_S", "5")  # a heartbeat every ~1.7 s
    reset_settings()
    try:
        _, headers = signed_up(client)
        agent = create_agent(client, headers)
        execution = start_async(client, headers, agent["id"]).get_json()
        execution_id = uuid.UUID(execution["id"])
        leases: list[Any] = []

        def lease() -> Any:
            with transaction() as db:
                return db.scalar(
                    select(AgentExecution.lease_expires_at).where(AgentExecution.id == execution_id)
                )

        async def think(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            leases.append(await asyncio.to_thread(lease))
            await asyncio.sleep(2.2)
            leases.append(await asyncio.to_thread(lease))
            return ModelResponse(parts=[TextPart("slow answer")])

        with answering(client, FunctionModel(think)):
            assert client.post(queue.tasks[0].path, headers=worker_headers).status_code == 200
        assert leases[1] > leases[0]
    finally:
        monkeypatch.delenv("EXECUTION_LEASE_S")
        reset_settings()


def test_retrying_a_queued_message_with_its_key_returns_it_instead_of_409(client, queue):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    session = client.post("/sessions", headers=headers, json={"agent_id": agent["id"]}).get_json()
    body = {"content": "hi", "mode": "async", "idempotency_key": "turn-1"}
    path = f"/sessions/{session['id']}/messages"

    first = client.post(path, headers=headers, json=body)
    again = client.post(path, headers=headers, json=body)

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.get_json()["id"] == first.get_json()["id"]
    other = client.post(path, headers=headers, json={**body, "idempotency_key": "turn-2"})
    assert_error(other, 409, "session_busy")


def test_the_sweeper_forgets_old_login_failures_and_expired_refresh_tokens(
    client, queue, worker_headers, db
):
    from core.models.users import LoginFailure, RefreshToken

    user, _ = signed_up(client)  # signing in stored one live refresh token
    key = f"sweep-{uuid.uuid4().hex[:8]}"
    now = utcnow()
    db.add_all(
        [
            LoginFailure(username_key=key, attempted_at=now - timedelta(hours=2)),
            LoginFailure(username_key=key, attempted_at=now),
            RefreshToken(
                id=uuid.uuid4(),
                user_id=uuid.UUID(user["id"]),
                family_id=uuid.uuid4(),
                token_hash="0" * 64,
                expires_at=now - timedelta(seconds=1),
            ),
        ]
    )
    db.flush()

    response = client.post("/tasks/sweep", headers=worker_headers)

    assert response.status_code == 200
    db.expire_all()
    left = list(
        db.scalars(select(LoginFailure.attempted_at).where(LoginFailure.username_key == key))
    )
    assert left == [now]
    tokens = list(
        db.scalars(
            select(RefreshToken.expires_at).where(RefreshToken.user_id == uuid.UUID(user["id"]))
        )
    )
    assert tokens
    assert all(expires > utcnow() for expires in tokens)
