"""Evals through the API, the queue's tasks delivered by the test (a recording queue): eval sets
(versioned, made of a session's turns too), eval runs whose cases are async executions with
`trigger: "eval"`, a few at a time, scored by pydantic-evals evaluators; the report, the
comparison of two versions, the release gate on publishing and rollback; the budget refused up
front; another user sees none of it."""

from __future__ import annotations

import re
import uuid
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from core.tasks.task import Task
from tests.support.agents import create_agent, definition
from tests.support.api import assert_error, signed_up, signed_up_with_role
from tests.support.backends import answering
from tests.support.queues import RecordingQueue

CITIES = {"france": "Paris", "japan": "Tokyo", "peru": "Lima", "kenya": "Nairobi"}


def capitals(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """The capital of the country asked about; told to be terse, only its first letter. Asked
    about Peru it looks something up first (a tool call)."""
    asked = str(messages[0].parts[-1].content).lower()  # type: ignore[union-attr]
    city = next((c for country, c in CITIES.items() if country in asked), "no idea")
    if "peru" in asked and not any(p.part_kind == "tool-return" for p in messages[-1].parts):
        return ModelResponse(parts=[ToolCallPart("find", {"pattern": "*.md"}, tool_call_id="f1")])
    terse = "terse" in (info.instructions or "")
    return ModelResponse(parts=[TextPart(city[0] if terse else f"The capital is {city}.")])


def drain(client: Any, queue: RecordingQueue, headers: dict[str, str], limit: int = 400) -> int:
    """Deliver every task the apps enqueue (and those they enqueue meanwhile), in order."""
    delivered = 0
    while queue.tasks and delivered < limit:
        task: Task = queue.tasks.pop(0)
        if task.path.startswith("/tasks/webhooks"):
            continue
        response = client.post(task.path, json=task.payload, headers=headers)
        assert response.status_code in (200, 503), (task.path, response.get_json())
        delivered += 1
    return delivered


def eval_set(client: Any, headers: dict[str, str], agent_id: str, **body: Any) -> dict[str, Any]:
    payload = {
        "name": "capitals",
        "cases": [
            {
                "name": country,
                "input": f"What is the capital of {country.title()}?",
                "expected": city,
            }
            for country, city in CITIES.items()
        ],
        "evaluators": [{"type": "contains"}, {"type": "max_latency_ms", "value": 60000}],
    } | body
    made = client.post(f"/agents/{agent_id}/eval-sets", json=payload, headers=headers)
    assert made.status_code == 201, made.get_json()
    return dict(made.get_json())


def run_eval(
    client: Any, queue: RecordingQueue, headers: dict[str, str], worker: dict[str, str], **body: Any
) -> dict[str, Any]:
    agent_id = body.pop("agent_id")
    started = client.post(f"/agents/{agent_id}/evals", json=body, headers=headers)
    assert started.status_code == 202, started.get_json()
    drain(client, queue, worker)
    report = client.get(f"/evals/{started.get_json()['id']}", headers=headers).get_json()
    assert report["status"] == "succeeded", report
    return dict(report)


def test_an_eval_scores_every_case_compares_versions_and_gates_publishing(
    client: Any, queue: RecordingQueue, worker_headers: dict[str, str]
) -> None:
    _, alice = signed_up(client)
    agent = create_agent(
        client,
        alice,
        definition=definition(system_prompt="Answer in a sentence.", tools=[{"name": "find"}]),
    )
    made = eval_set(client, alice, agent["id"])
    assert made["version"] == 1
    with answering(client, FunctionModel(capitals)):
        first = run_eval(
            client, queue, alice, worker_headers, agent_id=agent["id"], eval_set_id=made["id"]
        )
        assert first["pass_rate"] == 1.0
        assert (first["done"], first["total"]) == (4, 4)
        assert first["latency_ms"]["p50"] is not None
        case = first["cases"][0]
        assert case["scores"] == {"contains": True, "max_latency_ms:60000": True}
        # each case an ordinary execution, marked as an eval's, with its events
        execution = client.get(f"/executions/{case['execution_id']}", headers=alice).get_json()
        assert (execution["trigger"], execution["eval_id"]) == ("eval", first["id"])
        assert execution["agent_version"] == first["agent_version"]

        # the owner gates releases on this set, then breaks the agent: only first letters
        gate = {"release_gate": {"eval_set_id": made["id"], "min_pass_rate": 0.9}}
        patched = client.patch(
            f"/agents/{agent['id']}",
            json={
                "metadata": gate,
                "definition": definition(system_prompt="Be terse.", tools=[{"name": "find"}]),
            },
            headers=alice,
        )
        assert patched.status_code == 200, patched.get_json()
        second = run_eval(
            client, queue, alice, worker_headers, agent_id=agent["id"], eval_set_id=made["id"]
        )
    assert second["agent_version"] != first["agent_version"]
    assert second["pass_rate"] == 0.0
    failed = second["cases"][0]
    assert failed["passed"] is False
    assert "does not contain" in failed["reasons"]["contains"]
    compared = client.get(f"/evals/{first['id']}/compare/{second['id']}", headers=alice).get_json()
    assert sorted(c["name"] for c in compared["worse"]) == sorted(CITIES)
    assert compared["better"] == []
    assert compared["pass_rate_change"] == -1.0
    listing = {"agent_id": agent["id"], "category": "research"}
    refused = client.post("/marketplace", json=listing, headers=alice)
    body = assert_error(refused, 409, "release_gate_unmet")
    assert all(country in body["message"] for country in CITIES)
    # back to the version that passed: allowed, and then publishing is too
    back = client.post(
        f"/agents/{agent['id']}/rollback", json={"version": first["agent_version"]}, headers=alice
    )
    assert back.status_code == 200
    published = client.post("/marketplace", json=listing, headers=alice)
    assert published.status_code == 201, published.get_json()
    # the listing shows how the published version did on the gate's set, to anyone
    _, bob = signed_up(client)
    shown = client.get(f"/marketplace/{published.get_json()['id']}", headers=bob).get_json()
    assert shown["eval_pass_rate"] == 1.0
    found = client.get("/marketplace?owned=true", headers=alice).get_json()["items"]
    assert [item["eval_pass_rate"] for item in found] == [1.0]
    trend = client.get(f"/agents/{agent['id']}/evals?eval_set_id={made['id']}", headers=alice)
    by_version = {e["agent_version"]: e["pass_rate"] for e in trend.get_json()["items"]}
    assert by_version == {first["agent_version"]: 1.0, second["agent_version"]: 0.0}


def test_tool_use_regex_json_schema_and_a_judge_score_each_case(
    client: Any, queue: RecordingQueue, worker_headers: dict[str, str]
) -> None:
    _, alice = signed_up(client)
    agent = create_agent(client, alice, definition=definition(tools=[{"name": "find"}]))
    made = eval_set(
        client,
        alice,
        agent["id"],
        cases=[
            {"name": "peru", "input": "Capital of Peru?"},
            {"name": "japan", "input": "Capital of Japan?"},
        ],
        evaluators=[
            {"type": "tool_called", "tool": "find"},
            {"type": "tool_not_called", "tool": "file_write"},
            {"type": "regex", "pattern": r"^The capital is \w+\.$"},
            {"type": "json_schema", "schema": {"type": "object"}},
            {
                "type": "llm_judge",
                "rubric": "names a capital",
                "model": {"provider": "test", "name": "test"},
            },
        ],
    )
    with answering(client, FunctionModel(capitals)):
        report = run_eval(
            client, queue, alice, worker_headers, agent_id=agent["id"], eval_set_id=made["id"]
        )
    peru, japan = report["cases"]
    assert peru["scores"]["tool_called:find"] is True
    assert japan["scores"]["tool_called:find"] is False
    assert japan["reasons"]["tool_called:find"] == "find was not called"
    assert peru["scores"]["tool_not_called:file_write"] is True
    assert peru["scores"]["regex"] is True
    assert peru["scores"]["json_schema"] is False  # text, not JSON
    assert "llm_judge" in peru["scores"]
    assert report["pass_rate"] == 0.0


def test_cases_run_a_few_at_a_time_and_each_starts_once(
    client: Any, queue: RecordingQueue, worker_headers: dict[str, str], monkeypatch: Any
) -> None:
    from core.config import reset_settings

    monkeypatch.setenv("EVAL_CONCURRENCY", "2")
    reset_settings()
    try:
        _, alice = signed_up(client)
        agent = create_agent(client, alice, definition=definition())
        made = eval_set(client, alice, agent["id"])
        started = client.post(
            f"/agents/{agent['id']}/evals",
            json={"eval_set_id": made["id"], "repeat": 2},
            headers=alice,
        ).get_json()
        assert started["total"] == 8
        driver = queue.tasks.pop(0)
        for _ in range(3):  # the same delivery three times: still two cases running
            client.post(driver.path, json=driver.payload, headers=worker_headers)
        runs = [t for t in queue.tasks if t.path.startswith("/tasks/executions")]
        assert len(runs) == 2
        with answering(client, FunctionModel(capitals)):
            drain(client, queue, worker_headers)
        report = client.get(f"/evals/{started['id']}", headers=alice).get_json()
        assert report["status"] == "succeeded"
        ids = [c["execution_id"] for c in report["cases"]]
        assert len(set(ids)) == 8
        listed = client.get(f"/executions?agent_id={agent['id']}&limit=100", headers=alice)
        assert len(listed.get_json()["items"]) == 8  # each case ran once
    finally:
        reset_settings()


def test_cases_the_quota_holds_back_start_as_others_end(
    client: Any, db: Any, queue: RecordingQueue, worker_headers: dict[str, str]
) -> None:
    user, alice = signed_up(client)
    _, admin = signed_up_with_role(client, db, "admin")
    limited = client.patch(
        f"/users/{user['id']}", headers=admin, json={"limits": {"max_concurrent_runs": 3}}
    )
    assert limited.status_code == 200, limited.get_json()
    agent = create_agent(client, alice, definition=definition())
    made = eval_set(client, alice, agent["id"])
    started = client.post(
        f"/agents/{agent['id']}/evals", json={"eval_set_id": made["id"], "repeat": 2}, headers=alice
    ).get_json()
    driver = queue.tasks.pop(0)
    client.post(driver.path, json=driver.payload, headers=worker_headers)
    runs = [t for t in queue.tasks if t.path.startswith("/tasks/executions")]
    assert len(runs) == 3  # the user's 3 concurrent runs, not the eval's 8
    with answering(client, FunctionModel(capitals)):
        drain(client, queue, worker_headers)
    report = client.get(f"/evals/{started['id']}", headers=alice).get_json()
    assert (report["status"], report["pass_rate"]) == ("succeeded", 1.0)
    assert len({c["execution_id"] for c in report["cases"]}) == 8


def test_a_set_from_a_sessions_turns_is_versioned_and_private(
    client: Any, queue: RecordingQueue
) -> None:
    _, alice = signed_up(client)
    agent = create_agent(
        client, alice, definition=definition(model={"provider": "test", "name": "test-echo"})
    )
    session = client.post("/sessions", json={"agent_id": agent["id"]}, headers=alice).get_json()
    for said in ("first question", "second question", "third question"):
        turn = client.post(
            f"/sessions/{session['id']}/messages", json={"content": said}, headers=alice
        )
        assert turn.status_code == 200, turn.get_json()
    made = eval_set(
        client,
        alice,
        agent["id"],
        cases=[],
        from_session={"session_id": session["id"], "turns": [1, 3]},
    )
    assert [(c["name"], c["input"], c["expected"]) for c in made["cases"]] == [
        ("turn 1", "first question", "first question"),
        ("turn 3", "third question", "third question"),
    ]
    renamed = client.patch(f"/eval-sets/{made['id']}", json={"name": "turns"}, headers=alice)
    assert renamed.get_json()["version"] == 1  # a rename is no new version
    changed = client.patch(
        f"/eval-sets/{made['id']}", json={"evaluators": [{"type": "equals"}]}, headers=alice
    )
    assert changed.get_json()["version"] == 2
    _, bob = signed_up(client)
    assert_error(client.get(f"/eval-sets/{made['id']}", headers=bob), 404, "eval_set_not_found")
    assert_error(client.get(f"/agents/{agent['id']}/eval-sets", headers=bob), 404)
    missing = client.post(
        f"/agents/{agent['id']}/eval-sets",
        json={
            "name": "x",
            "evaluators": [{"type": "equals"}],
            "from_session": {"session_id": session["id"], "turns": [9]},
        },
        headers=alice,
    )
    assert_error(missing, 409, "turn_not_found")
    bad = client.post(
        f"/agents/{agent['id']}/eval-sets",
        json={
            "name": "x",
            "cases": [{"name": "a", "input": "b"}],
            "evaluators": [{"type": "regex", "pattern": "("}],
        },
        headers=alice,
    )
    assert_error(bad, 422)
    started = client.post(
        f"/agents/{agent['id']}/evals", json={"eval_set_id": made["id"]}, headers=alice
    ).get_json()
    assert_error(client.get(f"/evals/{started['id']}", headers=bob), 404, "eval_not_found")
    assert re.fullmatch(r"[0-9a-f-]{36}", started["id"])
    assert uuid.UUID(started["id"])


def test_an_eval_over_the_days_budget_is_refused_up_front(client: Any, db: Any) -> None:
    from decimal import Decimal

    from core.models.executions import AgentExecution, ExecutionStatus
    from core.models.users import User

    user, alice = signed_up(client)
    agent = create_agent(client, alice, definition=definition())
    made = eval_set(client, alice, agent["id"])
    row = db.get(User, uuid.UUID(user["id"]))
    row.limits = {"daily_cost_usd": 1}
    past = db.query(AgentExecution).filter(AgentExecution.agent_id == uuid.UUID(agent["id"]))
    assert past.count() == 0
    from tests.support.agents import execute

    for _ in range(2):
        execute(client, alice, agent["id"])
    for execution in past:
        execution.cost = Decimal("0.30")
        execution.status = ExecutionStatus.succeeded
    db.flush()
    refused = client.post(
        f"/agents/{agent['id']}/evals", json={"eval_set_id": made["id"]}, headers=alice
    )
    body = assert_error(refused, 429, "eval_over_budget")
    assert "1.2000" in body["message"]  # 4 runs at 0.30


def test_an_eval_over_the_deployments_size_is_refused(client: Any, monkeypatch: Any) -> None:
    from core.config import reset_settings

    monkeypatch.setenv("EVAL_MAX_RUNS", "7")
    reset_settings()
    try:
        _, alice = signed_up(client)
        agent = create_agent(client, alice, definition=definition())
        made = eval_set(client, alice, agent["id"])  # 4 cases
        body = {"eval_set_id": made["id"], "repeat": 2}
        refused = client.post(f"/agents/{agent['id']}/evals", json=body, headers=alice)
        assert_error(refused, 409, "eval_too_large")
        body["repeat"] = 1
        assert (
            client.post(f"/agents/{agent['id']}/evals", json=body, headers=alice).status_code == 202
        )
    finally:
        reset_settings()
