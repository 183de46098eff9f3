"""Human approval of tool calls through the API: a run stops `waiting_approval`, a person
approves or denies every pending call in one request, the run resumes through the queue; a
denial reaches the model with its reason; undecided calls expire; the session stays busy; every
decision is audited and applied once."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy import update

from core.clock import utcnow
from core.models.executions import AgentExecution
from tests.support.agents import create_agent, definition, events_of
from tests.support.api import assert_error, signed_up
from tests.support.backends import answering
from tests.support.names import resolve_as

HOOK = "https://hooks.example.com/hook"  # resolves to a public address here; never called


@pytest.fixture(autouse=True)
def _hooks_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    """The webhook's host resolves (to a public address) without DNS: a URL names its host."""
    resolve_as(monkeypatch, {"hooks.example.com": "93.184.215.14"})


WRITE = {"name": "file_write", "enabled": True, "config": {}, "requires_approval": True}
READ = {"name": "file_read", "enabled": True, "config": {}}


def model(seen: list[list[ModelMessage]] | None = None) -> FunctionModel:
    """Writes a.txt (needs approval) and reads it in the same step, then says what it saw."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if seen is not None:
            seen.append(messages)
        returns = [
            part
            for message in messages
            for part in message.parts
            if isinstance(part, ToolReturnPart)
        ]
        if not returns:
            return ModelResponse(
                parts=[
                    ToolCallPart(
                        "file_write", {"path": "a.txt", "content": "hi"}, tool_call_id="w"
                    ),
                    ToolCallPart("file_read", {"path": "missing.txt"}, tool_call_id="r"),
                ]
            )
        write = next(p for p in returns if p.tool_call_id == "w")
        return ModelResponse(parts=[TextPart(f"write said: {write.content}")])

    return FunctionModel(respond)


@pytest.fixture
def owner(client: Any) -> dict[str, str]:
    return signed_up(client)[1]


def agent_with_approvals(client: Any, headers: dict[str, str], **fields: Any) -> str:
    agent = create_agent(client, headers, definition=definition(tools=[WRITE, READ]), **fields)
    return str(agent["id"])


def execute(client: Any, headers: dict[str, str], agent_id: str, **body: Any) -> Any:
    with answering(client, model()):
        return client.post(
            f"/agents/{agent_id}/execute", headers=headers, json={"input": "go"} | body
        )


def deliver(client: Any, queue: Any, worker_headers: dict[str, str], seen: Any = None) -> list[Any]:
    """Run every queued execution task (as the queue would), in order."""
    answers = []
    tasks = [t for t in queue.tasks if t.path.startswith("/tasks/executions/")]
    queue.tasks.clear()
    with answering(client, model(seen)):
        for task in tasks:
            answers.append(client.post(task.path, headers=worker_headers))
    return answers


def decide(
    client: Any, headers: dict[str, str], execution_id: str, *decisions: dict[str, Any]
) -> Any:
    return client.post(
        f"/executions/{execution_id}/approvals",
        headers=headers,
        json={"decisions": list(decisions)},
    )


def test_a_sync_run_waits_then_an_approval_resumes_it_through_the_queue(
    client: Any, owner: dict[str, str], queue: Any, worker_headers: dict[str, str]
) -> None:
    agent_id = agent_with_approvals(client, owner)
    response = execute(client, owner, agent_id)
    assert response.status_code == 200
    waiting = response.get_json()
    assert waiting["status"] == "waiting_approval"
    [pending] = waiting["pending_approvals"]
    assert (pending["tool_call_id"], pending["tool_name"]) == ("w", "file_write")
    assert pending["args"] == {"path": "a.txt", "content": "hi"}
    assert pending["requested_at"] < pending["expires_at"]
    assert client.get(f"/executions/{waiting['id']}", headers=owner).get_json()[
        "pending_approvals"
    ] == [pending]

    decided = decide(client, owner, waiting["id"], {"tool_call_id": "w", "approved": True})
    assert decided.status_code == 202, decided.get_json()
    assert decided.get_json()["status"] == "queued"
    assert decided.get_json()["pending_approvals"] == []
    [answer] = deliver(client, queue, worker_headers)
    assert answer.status_code == 200
    done = client.get(f"/executions/{waiting['id']}", headers=owner).get_json()
    assert done["status"] == "succeeded", done
    assert done["output"] == "write said: wrote 2 bytes to a.txt"

    events = events_of(client, owner, waiting["id"])
    kinds = [e["type"] for e in events]
    assert kinds.index("approval_requested") < kinds.index("approval_decided")
    decided_event = next(e["payload"] for e in events if e["type"] == "approval_decided")
    assert decided_event["approved"] is True
    assert decided_event["tool_call_id"] == "w"
    assert decided_event["decided_by_username"]
    assert decided_event["decided_at"]
    statuses = [e["payload"]["status"] for e in events if e["type"] == "status"]
    assert statuses == ["waiting_approval", "queued", "succeeded"]
    # each tool call is told once, its result once
    results = [e["payload"]["tool_call_id"] for e in events if e["type"] == "tool_result"]
    assert sorted(results) == ["r", "w"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def test_a_denial_reaches_the_model_with_its_reason_and_the_tool_never_runs(
    client: Any, owner: dict[str, str], queue: Any, worker_headers: dict[str, str]
) -> None:
    agent_id = agent_with_approvals(client, owner)
    waiting = execute(client, owner, agent_id).get_json()
    decided = decide(
        client,
        owner,
        waiting["id"],
        {"tool_call_id": "w", "approved": False, "reason": "not today"},
    )
    assert decided.status_code == 202
    seen: list[list[ModelMessage]] = []
    deliver(client, queue, worker_headers, seen)
    done = client.get(f"/executions/{waiting['id']}", headers=owner).get_json()
    assert done["status"] == "succeeded"
    assert done["output"] == "write said: A person denied this call: not today"
    files = client.get(f"/executions/{waiting['id']}/artifacts", headers=owner)
    assert "a.txt" not in files.get_data(as_text=True)
    reason = [
        e["payload"]
        for e in events_of(client, owner, waiting["id"])
        if e["type"] == "approval_decided"
    ]
    assert reason[0]["approved"] is False
    assert reason[0]["reason"] == "not today"


def test_deciding_twice_is_409_a_stranger_404_and_decisions_must_match(
    client: Any, owner: dict[str, str], queue: Any
) -> None:
    agent_id = agent_with_approvals(client, owner)
    waiting = execute(client, owner, agent_id).get_json()
    _, stranger = signed_up(client)
    assert_error(
        decide(client, stranger, waiting["id"], {"tool_call_id": "w", "approved": True}), 404
    )
    assert_error(
        decide(client, owner, waiting["id"], {"tool_call_id": "nope", "approved": True}), 422
    )
    twice = decide(
        client,
        owner,
        waiting["id"],
        {"tool_call_id": "w", "approved": True},
        {"tool_call_id": "w", "approved": False},
    )
    assert assert_error(twice, 422)["details"][0]["type"] == "duplicate_call"
    assert_error(
        decide(client, owner, str(uuid.uuid4()), {"tool_call_id": "w", "approved": True}), 404
    )
    assert (
        decide(client, owner, waiting["id"], {"tool_call_id": "w", "approved": True}).status_code
        == 202
    )
    assert_error(
        decide(client, owner, waiting["id"], {"tool_call_id": "w", "approved": True}),
        409,
        "not_waiting_approval",
    )
    assert len([t for t in queue.tasks if "executions" in t.path]) == 1


def test_an_editor_of_the_agent_may_decide(client: Any, owner: dict[str, str], queue: Any) -> None:
    editor_user, editor = signed_up(client)
    agent_id = agent_with_approvals(client, owner)
    granted = client.put(
        f"/agents/{agent_id}/permissions/{editor_user['id']}", headers=owner, json={"level": "edit"}
    )
    assert granted.status_code in (200, 201), granted.get_json()
    waiting = execute(client, owner, agent_id).get_json()
    assert (
        decide(client, editor, waiting["id"], {"tool_call_id": "w", "approved": True}).status_code
        == 202
    )


def test_undecided_calls_expire_cancelled_by_the_sweeper(
    client: Any, owner: dict[str, str], queue: Any, worker_headers: dict[str, str], db: Any
) -> None:
    agent_id = agent_with_approvals(client, owner)
    waiting = execute(client, owner, agent_id, webhook_url=HOOK).get_json()
    db.execute(
        update(AgentExecution)
        .where(AgentExecution.id == uuid.UUID(waiting["id"]))
        .values(approval_expires_at=utcnow() - timedelta(seconds=1))
    )
    queue.tasks.clear()
    swept = client.post("/tasks/sweep", headers=worker_headers)
    # the sweep is the service's: runs other tests committed in the suite's database (those
    # that need real commits) may be swept with this one, so what is checked is this run's
    assert swept.get_json()["approvals_expired"] >= 1
    ended = client.get(f"/executions/{waiting['id']}", headers=owner).get_json()
    assert ended["status"] == "cancelled"
    assert ended["error"]["code"] == "approval_expired"
    its = [t.path for t in queue.tasks if waiting["id"] in t.path]
    assert its == [f"/tasks/webhooks/{waiting['id']}"]
    assert_error(decide(client, owner, waiting["id"], {"tool_call_id": "w", "approved": True}), 409)


def test_an_async_run_fires_its_webhook_when_approval_is_needed(
    client: Any, owner: dict[str, str], queue: Any, worker_headers: dict[str, str]
) -> None:
    agent_id = agent_with_approvals(client, owner)
    started = execute(client, owner, agent_id, mode="async", webhook_url=HOOK).get_json()
    deliver(client, queue, worker_headers)
    waiting = client.get(f"/executions/{started['id']}", headers=owner).get_json()
    assert waiting["status"] == "waiting_approval"
    hooks = [t for t in queue.tasks if t.path.startswith("/tasks/webhooks/")]
    assert len(hooks) == 1
    # a duplicate delivery of the waiting run does nothing
    with answering(client, model()):
        again = client.post(f"/tasks/executions/{started['id']}", headers=worker_headers)
    assert again.status_code == 200
    assert (
        client.get(f"/executions/{started['id']}", headers=owner).get_json()["status"]
        == "waiting_approval"
    )


def test_a_session_stays_busy_until_its_turn_is_decided(
    client: Any, owner: dict[str, str], queue: Any, worker_headers: dict[str, str]
) -> None:
    agent_id = agent_with_approvals(client, owner)
    session = client.post("/sessions", headers=owner, json={"agent_id": agent_id}).get_json()
    with answering(client, model()):
        turn = client.post(
            f"/sessions/{session['id']}/messages", headers=owner, json={"content": "go"}
        )
        assert turn.get_json()["status"] == "waiting_approval"
        busy = client.post(
            f"/sessions/{session['id']}/messages", headers=owner, json={"content": "more"}
        )
    assert_error(busy, 409, "session_busy")
    decide(client, owner, turn.get_json()["id"], {"tool_call_id": "w", "approved": True})
    deliver(client, queue, worker_headers)
    assert (
        client.get(f"/executions/{turn.get_json()['id']}", headers=owner).get_json()["status"]
        == "succeeded"
    )
    with answering(client, FunctionModel(lambda m, i: ModelResponse(parts=[TextPart("next")]))):
        after = client.post(
            f"/sessions/{session['id']}/messages", headers=owner, json={"content": "more"}
        )
    assert after.get_json()["status"] == "succeeded"


def test_a_waiting_run_can_be_cancelled_at_once(client: Any, owner: dict[str, str]) -> None:
    agent_id = agent_with_approvals(client, owner)
    waiting = execute(client, owner, agent_id).get_json()
    cancelled = client.post(f"/executions/{waiting['id']}/cancel", headers=owner)
    assert cancelled.status_code == 202
    assert cancelled.get_json()["status"] == "cancelled"
    assert_error(decide(client, owner, waiting["id"], {"tool_call_id": "w", "approved": True}), 409)


def test_time_spent_waiting_does_not_count_against_the_timeout(
    client: Any, owner: dict[str, str], queue: Any, worker_headers: dict[str, str], db: Any
) -> None:
    agent = create_agent(
        client, owner, definition=definition(tools=[WRITE, READ], limits={"timeout_s": 60})
    )
    waiting = execute(client, owner, agent["id"]).get_json()
    # the run started (and asked) two hours ago
    hours_ago = utcnow() - timedelta(hours=2)
    db.execute(
        update(AgentExecution)
        .where(AgentExecution.id == uuid.UUID(waiting["id"]))
        .values(
            started_at=hours_ago,
            waiting_since=hours_ago,
        )
    )
    decide(client, owner, waiting["id"], {"tool_call_id": "w", "approved": True})
    deliver(client, queue, worker_headers)
    assert (
        client.get(f"/executions/{waiting['id']}", headers=owner).get_json()["status"]
        == "succeeded"
    )


def test_a_decision_whose_enqueue_was_lost_is_picked_up_by_the_sweeper(
    client: Any, owner: dict[str, str], queue: Any, worker_headers: dict[str, str], db: Any
) -> None:
    agent_id = agent_with_approvals(client, owner)
    waiting = execute(client, owner, agent_id).get_json()
    decide(client, owner, waiting["id"], {"tool_call_id": "w", "approved": True})
    queue.tasks.clear()  # the process died between the commit and the enqueue
    db.execute(
        update(AgentExecution)
        .where(AgentExecution.id == uuid.UUID(waiting["id"]))
        .values(created_at=utcnow() - timedelta(minutes=5))
    )
    assert client.post("/tasks/sweep", headers=worker_headers).get_json()["requeued"] >= 1
    # only this run's task: others the sweep found are runs other tests committed
    queue.tasks[:] = [t for t in queue.tasks if waiting["id"] in t.path]
    assert len(queue.tasks) == 1
    deliver(client, queue, worker_headers)
    done = client.get(f"/executions/{waiting['id']}", headers=owner).get_json()
    assert done["status"] == "succeeded"
    assert done["output"] == "write said: wrote 2 bytes to a.txt"


# -- workflows and delegation ---------------------------------------------------------------------


def team_model(delegate_to: str | None = None) -> FunctionModel:
    """Agents by their tools: a delegator delegates to `delegate_to`, a writer writes (each call
    its own id), anyone else answers at once."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        names = {tool.name for tool in info.function_tools}
        returns = [
            part.content
            for message in messages
            for part in message.parts
            if isinstance(part, ToolReturnPart)
        ]
        if "delegate" in names:
            if not returns:
                args = {"agent_id": delegate_to, "input": "write it"}
                return ModelResponse(parts=[ToolCallPart("delegate", args, tool_call_id="d")])
            return ModelResponse(parts=[TextPart(f"delegated: {returns[-1]}")])
        if "file_write" in names:
            if not returns:
                args = {"path": f"{uuid.uuid4().hex[:6]}.txt", "content": "hi"}
                call_id = f"w-{uuid.uuid4().hex[:8]}"
                return ModelResponse(parts=[ToolCallPart("file_write", args, tool_call_id=call_id)])
            return ModelResponse(parts=[TextPart(f"writer: {returns[-1]}")])
        return ModelResponse(parts=[TextPart("plain")])

    return FunctionModel(respond)


def run_tasks(client: Any, queue: Any, worker_headers: dict[str, str], model: FunctionModel) -> int:
    """Deliver queued execution tasks until none is left (a woken workflow enqueues more)."""
    delivered = 0
    with answering(client, model):
        while tasks := [t for t in queue.tasks if t.path.startswith("/tasks/executions/")]:
            queue.tasks.clear()
            for task in tasks:
                assert client.post(task.path, headers=worker_headers).status_code == 200
                delivered += 1
    return delivered


def workflow(client: Any, headers: dict[str, str], kind: str, *steps: str) -> str:
    agent = create_agent(
        client,
        headers,
        definition={"system_prompt": "", "workflow": {"type": kind, "steps": list(steps)}},
    )
    return str(agent["id"])


def test_a_sequential_workflow_waits_while_its_step_waits_and_goes_on_after(
    client: Any, owner: dict[str, str], queue: Any, worker_headers: dict[str, str]
) -> None:
    writer = agent_with_approvals(client, owner)
    plain = str(create_agent(client, owner)["id"])
    flow = workflow(client, owner, "sequential", writer, plain)
    with answering(client, team_model()):
        started = client.post(f"/agents/{flow}/execute", headers=owner, json={"input": "go"})
    parent = started.get_json()
    assert parent["status"] == "waiting_approval", parent
    [pending] = parent["pending_approvals"]
    step = client.get(f"/executions/{pending['execution_id']}", headers=owner).get_json()
    assert step["status"] == "waiting_approval"
    assert step["parent_execution_id"] == parent["id"]

    decided = decide(
        client, owner, parent["id"], {"tool_call_id": pending["tool_call_id"], "approved": True}
    )
    assert decided.status_code == 202, decided.get_json()
    assert run_tasks(client, queue, worker_headers, team_model()) == 2  # the step, then the flow
    done = client.get(f"/executions/{parent['id']}", headers=owner).get_json()
    assert done["status"] == "succeeded", done
    assert done["output"] == "plain"
    assert [c["status"] for c in done["children"]] == ["succeeded", "succeeded"]


def test_a_parallel_workflow_waits_for_every_waiting_step(
    live: Any, queue: Any, worker_headers: dict[str, str]
) -> None:
    client = live  # parallel steps use several connections: requests commit for real
    _, owner = signed_up(client)
    writer = agent_with_approvals(client, owner)
    other_writer = agent_with_approvals(client, owner)
    flow = workflow(client, owner, "parallel", writer, other_writer)
    with answering(live, team_model()):
        parent = client.post(
            f"/agents/{flow}/execute", headers=owner, json={"input": "go"}
        ).get_json()
    assert parent["status"] == "waiting_approval"
    assert len(parent["pending_approvals"]) == 2
    first, second = parent["pending_approvals"]
    # one decided on its step directly, the other through the workflow
    assert (
        decide(
            client,
            owner,
            first["execution_id"],
            {"tool_call_id": first["tool_call_id"], "approved": True},
        ).status_code
        == 202
    )
    still = client.get(f"/executions/{parent['id']}", headers=owner).get_json()
    assert [p["tool_call_id"] for p in still["pending_approvals"]] == [second["tool_call_id"]]
    run_tasks(client, queue, worker_headers, team_model())
    assert (
        client.get(f"/executions/{parent['id']}", headers=owner).get_json()["status"]
        == "waiting_approval"
    )
    reason = {"tool_call_id": second["tool_call_id"], "approved": False, "reason": "no"}
    assert decide(client, owner, parent["id"], reason).status_code == 202
    run_tasks(client, queue, worker_headers, team_model())
    done = client.get(f"/executions/{parent['id']}", headers=owner).get_json()
    assert done["status"] == "succeeded", done
    assert done["output"]["1"] == "writer: A person denied this call: no"


def test_a_workflow_whose_step_expires_ends_cancelled(
    client: Any, owner: dict[str, str], queue: Any, worker_headers: dict[str, str], db: Any
) -> None:
    writer = agent_with_approvals(client, owner)
    flow = workflow(client, owner, "sequential", writer)
    with answering(client, team_model()):
        parent = client.post(
            f"/agents/{flow}/execute", headers=owner, json={"input": "go"}
        ).get_json()
    step_id = parent["pending_approvals"][0]["execution_id"]
    db.execute(
        update(AgentExecution)
        .where(AgentExecution.id == uuid.UUID(step_id))
        .values(approval_expires_at=utcnow() - timedelta(seconds=1))
    )
    queue.tasks.clear()
    client.post("/tasks/sweep", headers=worker_headers)
    # only this workflow's tasks: the sweep also requeues runs other tests committed to the
    # suite's database and left unfinished, which are not this test's to run
    queue.tasks[:] = [t for t in queue.tasks if parent["id"] in t.path or step_id in t.path]
    assert run_tasks(client, queue, worker_headers, team_model()) >= 1
    done = client.get(f"/executions/{parent['id']}", headers=owner).get_json()
    assert done["status"] == "cancelled", done
    assert done["error"] == {
        "code": "step_failed",
        "message": "step 0 ended cancelled: nobody decided on the pending tool calls in time",
    }


def test_a_delegation_to_an_agent_whose_tools_need_approval_is_approved_as_a_whole(
    client: Any, owner: dict[str, str], queue: Any, worker_headers: dict[str, str]
) -> None:
    writer = agent_with_approvals(client, owner)
    boss = create_agent(
        client,
        owner,
        definition=definition(
            tools=[{"name": "delegate", "enabled": True, "config": {"agents": [writer]}}]
        ),
    )
    with answering(client, team_model(delegate_to=writer)):
        waiting = client.post(
            f"/agents/{boss['id']}/execute", headers=owner, json={"input": "go"}
        ).get_json()
    assert waiting["status"] == "waiting_approval", waiting
    [pending] = waiting["pending_approvals"]
    assert pending["tool_name"] == "delegate"
    assert pending["args"]["agent_id"] == writer
    decide(client, owner, waiting["id"], {"tool_call_id": "d", "approved": True})
    run_tasks(client, queue, worker_headers, team_model(delegate_to=writer))
    done = client.get(f"/executions/{waiting['id']}", headers=owner).get_json()
    assert done["status"] == "succeeded", done
    assert done["output"].startswith("delegated: writer: wrote 2 bytes to ")


def twice_writer() -> FunctionModel:
    """A writer that writes twice (each call needing approval), then answers."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        returns = [
            part.content
            for message in messages
            for part in message.parts
            if isinstance(part, ToolReturnPart)
        ]
        if len(returns) < 2:
            call_id = f"w{len(returns) + 1}"
            args = {"path": f"{call_id}.txt", "content": "hi"}
            return ModelResponse(parts=[ToolCallPart("file_write", args, tool_call_id=call_id)])
        return ModelResponse(parts=[TextPart(f"wrote twice: {returns[-1]}")])

    return FunctionModel(respond)


def test_a_step_that_asks_again_keeps_its_workflow_waiting_on_the_new_call(
    client: Any,
    owner: dict[str, str],
    queue: Any,
    worker_headers: dict[str, str],
    db: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The step resumes after the first decision and asks for a second one: the workflow lists
    it (naming the step), may decide it, fires a webhook of its own for it (a new id), keeps
    waiting as long as the step's request lasts; deciding a call twice is a 409."""
    sent: list[tuple[str, str]] = []

    def capture(url: str, payload: Any, secrets: Any, settings: Any, *, message_id: str) -> Any:
        from core.webhooks import DeliveryResult

        sent.append((message_id, payload["id"]))
        return DeliveryResult(status_code=204, retryable=False)

    monkeypatch.setattr("core.webhooks.deliver", capture)

    def deliver_webhooks() -> None:
        for task in [t for t in queue.tasks if t.path.startswith("/tasks/webhooks/")]:
            queue.tasks.remove(task)
            assert client.post(task.path, headers=worker_headers).status_code == 200

    writer = agent_with_approvals(client, owner)
    flow = workflow(client, owner, "sequential", writer)
    with answering(client, twice_writer()):
        parent = client.post(
            f"/agents/{flow}/execute", headers=owner, json={"input": "go", "webhook_url": HOOK}
        ).get_json()
    assert parent["status"] == "waiting_approval"
    [first] = parent["pending_approvals"]
    assert first["tool_call_id"] == "w1"
    deliver_webhooks()
    step_id = first["execution_id"]
    approve_w1 = {"tool_call_id": "w1", "approved": True}
    assert decide(client, owner, parent["id"], approve_w1).status_code == 202
    assert_error(decide(client, owner, parent["id"], approve_w1), 409, "not_waiting_approval")
    # while its step runs nothing waits for a person: the workflow cannot expire meanwhile
    parent_row = db.get(AgentExecution, uuid.UUID(parent["id"]))
    db.refresh(parent_row)
    assert parent_row.approval_expires_at is None
    run_tasks(client, queue, worker_headers, twice_writer())

    again = client.get(f"/executions/{parent['id']}", headers=owner).get_json()
    assert again["status"] == "waiting_approval", again
    [second] = again["pending_approvals"]
    assert (second["tool_call_id"], second["execution_id"]) == ("w2", step_id)
    step = client.get(f"/executions/{step_id}", headers=owner).get_json()
    assert step["status"] == "waiting_approval"
    step_row = db.get(AgentExecution, uuid.UUID(step_id))
    db.refresh(parent_row)
    db.refresh(step_row)
    # it waits as long as the step's new request lasts
    assert parent_row.approval_expires_at == step_row.approval_expires_at
    asked = [
        e["payload"]["tool_call_id"]
        for e in events_of(client, owner, parent["id"])
        if e["type"] == "approval_requested"
    ]
    assert asked == ["w1", "w2"]

    # each wait of the workflow is its own webhook message
    deliver_webhooks()
    parent_messages = [message for message, run in sent if run == parent["id"]]
    assert len(parent_messages) == len(set(parent_messages)) == 2, sent

    approve_w2 = {"tool_call_id": "w2", "approved": True}
    assert decide(client, owner, parent["id"], approve_w2).status_code == 202
    run_tasks(client, queue, worker_headers, twice_writer())
    done = client.get(f"/executions/{parent['id']}", headers=owner).get_json()
    assert done["status"] == "succeeded", done
    assert done["output"].startswith("wrote twice")
