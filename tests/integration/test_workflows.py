"""Workflow agents (sequential, parallel, loop) and delegation, scripted with FunctionModel:
each step agent has its own system prompt, and the script answers by it."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy import select, update

from core.clock import utcnow
from core.config import get_settings
from core.models.executions import AgentExecution
from tests.support.agents import create_agent, definition, events_of, tools
from tests.support.api import assert_error, signed_up
from tests.support.backends import answering

Script = Callable[[str, list[ModelMessage]], ModelResponse]


def by_prompt(scripts: dict[str, Script], calls: list[tuple[str, float]] | None = None) -> Any:
    """A FunctionModel that answers with the script of the agent whose instructions it sees."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        first = messages[0]
        assert isinstance(first, ModelRequest)
        system = str(info.instructions)
        prompt = next(str(p.content) for p in first.parts if isinstance(p, UserPromptPart))
        if calls is not None:
            calls.append((system, time.monotonic()))
        return scripts[system](prompt, messages)

    return FunctionModel(respond)


def say(text: str) -> Script:
    return lambda prompt, messages: ModelResponse(parts=[TextPart(text)])


def append(suffix: str) -> Script:
    return lambda prompt, messages: ModelResponse(parts=[TextPart(f"{prompt}{suffix}")])


def step(client: Any, headers: dict[str, str], name: str, **changes: Any) -> dict[str, Any]:
    return create_agent(client, headers, definition=definition(system_prompt=name, **changes))


def workflow(
    client: Any, headers: dict[str, str], kind: str, steps: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    spec = {"type": kind, "steps": [s["id"] for s in steps], **extra}
    return create_agent(
        client, headers, definition=definition(system_prompt="workflow", workflow=spec)
    )


def run(client: Any, headers: dict[str, str], agent: dict[str, Any], text: str = "x") -> Any:
    response = client.post(f"/agents/{agent['id']}/execute", headers=headers, json={"input": text})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def user(client):
    return signed_up(client)


def test_sequential_feeds_each_output_to_the_next_step(client, user):
    _, headers = user
    a, b, c = (step(client, headers, name) for name in ("a", "b", "c"))
    flow = workflow(client, headers, "sequential", [a, b, c])
    with answering(client, by_prompt({"a": append("+a"), "b": append("+b"), "c": append("+c")})):
        execution = run(client, headers, flow, "start")

    assert execution["status"] == "succeeded", execution["error"]
    assert execution["output"] == "start+a+b+c"
    assert [child["step_index"] for child in execution["children"]] == [0, 1, 2]
    detail = client.get(f"/executions/{execution['id']}", headers=headers).get_json()
    assert detail["children"] == execution["children"]
    child = client.get(f"/executions/{execution['children'][1]['id']}", headers=headers).get_json()
    assert (child["parent_execution_id"], child["input"], child["output"]) == (
        execution["id"],
        "start+a",
        "start+a+b",
    )


def test_the_parents_usage_is_the_sum_of_its_steps(client, user):
    _, headers = user
    a, b = step(client, headers, "a"), step(client, headers, "b")
    flow = workflow(client, headers, "sequential", [a, b])
    with answering(client, by_prompt({"a": say("1"), "b": say("2")})):
        execution = run(client, headers, flow)
    total = {
        key: sum(child["usage"][key] for child in execution["children"])
        for key in execution["usage"]
    }
    assert execution["usage"] == total
    assert execution["usage"]["requests"] == 2
    # the daily usage counts the workflow once, with its steps' tokens
    [today] = client.get("/users/me/usage?days=1", headers=headers).get_json()["days"]
    assert today["executions"] == 1
    assert today["input_tokens"] == execution["usage"]["input_tokens"]


def test_loop_ends_when_a_step_says_done(client, user):
    _, headers = user
    schema = {
        "type": "object",
        "properties": {"done": {"type": "boolean"}, "n": {"type": "integer"}},
    }
    counter = step(client, headers, "count", output_schema=schema)
    flow = workflow(client, headers, "loop", [counter], max_iterations=10)
    rounds = 0

    def count(prompt: str, messages: list[ModelMessage]) -> ModelResponse:
        nonlocal rounds
        rounds += 1
        args = {"n": rounds, "done": rounds == 3}
        return ModelResponse(parts=[ToolCallPart("final_result", args)])

    with answering(client, by_prompt({"count": count})):
        execution = run(client, headers, flow)
    assert execution["status"] == "succeeded", execution["error"]
    assert execution["output"] == {"n": 3, "done": True}
    assert [c["iteration"] for c in execution["children"]] == [0, 1, 2]


def test_loop_stops_after_max_iterations(client, user):
    _, headers = user
    a, b = step(client, headers, "a"), step(client, headers, "b")
    flow = workflow(client, headers, "loop", [a, b], max_iterations=2)
    with answering(client, by_prompt({"a": append("a"), "b": append("b")})):
        execution = run(client, headers, flow, "")
    assert execution["output"] == "abab"
    assert len(execution["children"]) == 4


def test_a_failing_step_fails_the_workflow(client, user):
    _, headers = user
    a, b = step(client, headers, "a", limits={"max_requests": 1}), step(client, headers, "b")
    flow = workflow(client, headers, "sequential", [a, b])
    loops = ModelResponse(parts=[ToolCallPart("find", {})])
    a_with_tool = {"a": lambda p, m: loops, "b": say("never")}
    client.patch(
        f"/agents/{a['id']}",
        headers=headers,
        json={
            "definition": definition(
                system_prompt="a", tools=tools("find"), limits={"max_requests": 1}
            )
        },
    )
    with answering(client, by_prompt(a_with_tool)):
        execution = run(client, headers, flow)
    assert execution["status"] == "failed"
    assert execution["error"]["code"] == "step_failed"
    assert len(execution["children"]) == 1


def test_a_step_the_caller_cannot_execute_is_refused_at_create(client, user):
    _, headers = user
    _, other_headers = signed_up(client)
    private = step(client, other_headers, "theirs")
    spec = {"type": "sequential", "steps": [private["id"]]}
    response = client.post(
        "/agents",
        headers=headers,
        json={"name": "wf", "display_name": "WF", "definition": definition(workflow=spec)},
    )
    body = assert_error(response, 404, "agent_not_found")  # another's private agent is not there
    assert body["details"][0]["path"] == "definition.workflow.steps[0]"


def test_a_step_that_became_private_fails_the_run(client, user):
    _, headers = user
    _, owner_headers = signed_up(client)
    shared = step(client, owner_headers, "shared")
    client.patch(f"/agents/{shared['id']}", headers=owner_headers, json={"scope": "public"})
    flow = workflow(client, headers, "sequential", [shared])
    client.patch(f"/agents/{shared['id']}", headers=owner_headers, json={"scope": "private"})
    execution = run(client, headers, flow)
    assert execution["status"] == "failed"
    assert execution["error"]["code"] == "step_not_executable"


def test_cycles_are_refused_directly_and_through_other_workflows(client, user):
    _, headers = user
    leaf = step(client, headers, "leaf")
    inner = workflow(client, headers, "sequential", [leaf])
    outer = workflow(client, headers, "sequential", [inner])
    # make inner call outer: inner → outer → inner
    spec = {"type": "sequential", "steps": [outer["id"]]}
    response = client.patch(
        f"/agents/{inner['id']}",
        headers=headers,
        json={"definition": definition(system_prompt="workflow", workflow=spec)},
    )
    body = assert_error(response, 409, "cycle")
    assert body["details"][0]["type"] == "cycle"
    itself = {"type": "sequential", "steps": [outer["id"]]}
    response = client.patch(
        f"/agents/{outer['id']}",
        headers=headers,
        json={"definition": definition(system_prompt="workflow", workflow=itself)},
    )
    assert_error(response, 409, "cycle")


def test_delegation_runs_another_agent_and_counts_its_usage(client, user):
    _, headers = user
    helper = step(client, headers, "helper")
    boss = create_agent(
        client,
        headers,
        definition=definition(
            system_prompt="boss",
            tools=[{"name": "delegate", "config": {"agents": [helper["id"]]}}],
        ),
    )

    def lead(prompt: str, messages: list[ModelMessage]) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(
                parts=[ToolCallPart("delegate", {"agent_id": helper["id"], "input": "help"})]
            )
        return ModelResponse(parts=[TextPart("boss got: " + str(messages[-1].parts[0].content))])

    with answering(client, by_prompt({"boss": lead, "helper": say("helped")})):
        execution = run(client, headers, boss)
    assert execution["status"] == "succeeded", execution["error"]
    assert execution["output"] == "boss got: helped"
    assert execution["usage"]["requests"] == 3  # two of the boss, one of the helper


def test_delegation_to_an_agent_not_configured_is_a_retry(client, user):
    _, headers = user
    helper, stranger_agent = step(client, headers, "helper"), step(client, headers, "other")
    boss = create_agent(
        client,
        headers,
        definition=definition(
            system_prompt="boss",
            tools=[{"name": "delegate", "config": {"agents": [helper["id"]]}}],
        ),
    )
    attempts = iter(
        [
            ModelResponse(
                parts=[ToolCallPart("delegate", {"agent_id": stranger_agent["id"], "input": "x"})]
            ),
            ModelResponse(parts=[TextPart("fine")]),
        ]
    )
    with answering(client, by_prompt({"boss": lambda p, m: next(attempts)})):
        execution = run(client, headers, boss)
    results = [e for e in events_of(client, headers, execution["id"]) if e["type"] == "tool_result"]
    assert results[0]["payload"]["outcome"] == "retry"


# -- with real commits: parallel steps, cancel and crash recovery --------------------------------


def test_parallel_steps_overlap_and_key_their_outputs_by_step(live):
    _, headers = signed_up(live)
    barrier = threading.Barrier(3, timeout=10)

    def meet(name: str) -> Script:
        def respond(prompt: str, messages: list[ModelMessage]) -> ModelResponse:
            barrier.wait()  # only returns when all three steps are inside their model call
            return ModelResponse(parts=[TextPart(name)])

        return respond

    steps = [step(live, headers, name) for name in ("p0", "p1", "p2")]
    flow = workflow(live, headers, "parallel", steps)
    calls: list[tuple[str, float]] = []
    with answering(live, by_prompt({n: meet(n) for n in ("p0", "p1", "p2")}, calls)):
        execution = run(live, headers, flow)
    assert execution["status"] == "succeeded", execution["error"]
    assert execution["output"] == {"0": "p0", "1": "p1", "2": "p2"}
    started = [at for _, at in calls]
    assert max(started) - min(started) < 5  # all three were running at the same time


def test_a_failed_parallel_step_cancels_the_others(live):
    _, headers = signed_up(live)
    fail = step(live, headers, "fail", limits={"max_requests": 1})
    live.patch(
        f"/agents/{fail['id']}",
        headers=headers,
        json={
            "definition": definition(
                system_prompt="fail", tools=tools("find"), limits={"max_requests": 1}
            )
        },
    )
    slow = step(live, headers, "slow", tools=tools("find"))
    flow = workflow(live, headers, "parallel", [fail, slow])
    slow_calls = 0

    def slowly(prompt: str, messages: list[ModelMessage]) -> ModelResponse:
        nonlocal slow_calls
        slow_calls += 1
        time.sleep(0.3)
        return ModelResponse(parts=[ToolCallPart("find", {}, tool_call_id=f"s{slow_calls}")])

    scripts = {"fail": lambda p, m: ModelResponse(parts=[ToolCallPart("find", {})]), "slow": slowly}
    with answering(live, by_prompt(scripts)):
        execution = run(live, headers, flow)
    assert execution["status"] == "failed"
    statuses = sorted(child["status"] for child in execution["children"])
    assert statuses == ["cancelled", "failed"]
    assert slow_calls < 20


class Crash(BaseException):
    """The worker process dying."""


def test_a_crash_mid_workflow_resumes_without_rerunning_finished_steps(live, queue):
    from core.db import transaction
    from core.tasks.auth import tasks_shared_secret

    _, headers = signed_up(live)
    a, b = step(live, headers, "a"), step(live, headers, "b")
    flow = workflow(live, headers, "sequential", [a, b])
    accepted = live.post(
        f"/agents/{flow['id']}/execute",
        headers=headers,
        json={"input": "go", "mode": "async"},
    ).get_json()
    worker = {"X-Tasks-Secret": tasks_shared_secret(get_settings())}
    a_runs = 0

    def run_a(prompt: str, messages: list[ModelMessage]) -> ModelResponse:
        nonlocal a_runs
        a_runs += 1
        return ModelResponse(parts=[TextPart("A")])

    def crash(prompt: str, messages: list[ModelMessage]) -> ModelResponse:
        raise Crash()

    with answering(live, by_prompt({"a": run_a, "b": crash})), pytest.raises(Crash):
        live.post(queue.tasks[0].path, headers=worker)
    with transaction() as db:  # the dead worker's leases run out
        db.execute(
            update(AgentExecution)
            .where(
                (AgentExecution.id == uuid.UUID(accepted["id"]))
                | (AgentExecution.parent_execution_id == uuid.UUID(accepted["id"]))
            )
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    with answering(live, by_prompt({"a": run_a, "b": append("+B")})):
        assert live.post(queue.tasks[0].path, headers=worker).status_code == 200
    done = live.get(f"/executions/{accepted['id']}", headers=headers).get_json()
    assert (done["status"], done["output"]) == ("succeeded", "A+B")
    assert a_runs == 1
    assert len(done["children"]) == 2


def test_cancelling_the_parent_cancels_its_running_step(live):
    from core.db import transaction
    from core.runs.tree import cancel_descendants

    _, headers = signed_up(live)
    worker_step = step(live, headers, "work", tools=tools("find"))
    flow = workflow(live, headers, "sequential", [worker_step])
    parent_id: list[uuid.UUID] = []
    calls = 0

    def work(prompt: str, messages: list[ModelMessage]) -> ModelResponse:
        nonlocal calls
        calls += 1
        if calls == 2:  # the user cancels the workflow while its step is running
            with transaction() as db:
                # the running step of this test's workflow (its agent is this test's own)
                child = db.scalar(
                    select(AgentExecution.parent_execution_id).where(
                        AgentExecution.status == "running",
                        AgentExecution.agent_id == uuid.UUID(worker_step["id"]),
                    )
                )
                parent_id.append(child)
                db.execute(
                    update(AgentExecution)
                    .where(AgentExecution.id == child)
                    .values(cancel_requested_at=utcnow())
                )
                cancel_descendants(db, child, utcnow())
        return ModelResponse(parts=[ToolCallPart("find", {}, tool_call_id=f"w{calls}")])

    with answering(live, by_prompt({"work": work})):
        execution = run(live, headers, flow)
    assert execution["id"] == str(parent_id[0])
    assert execution["status"] == "cancelled"
    assert execution["children"][0]["status"] == "cancelled"
    assert calls == 2
