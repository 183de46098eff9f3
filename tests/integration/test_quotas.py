"""Quotas, enforced by the database as a run starts (core.runs.quotas): unfinished runs per user
exactly under parallel starts, a day's tokens, admin overrides; a run that ends gives its slot
back; a refused start writes nothing and answers 429 `quota_exceeded` naming the limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, text

from core.models.executions import AgentExecution
from tests.integration.test_async_runs import start_async
from tests.support.agents import create_agent, definition, events_of, execute, tools
from tests.support.api import assert_error, signed_up, signed_up_with_role


def limit(client: Any, admin: dict[str, str], user_id: str, **limits: Any) -> None:
    response = client.patch(f"/users/{user_id}", headers=admin, json={"limits": limits})
    assert response.status_code == 200, response.get_json()


@pytest.fixture
def service_engine(engine: Any) -> Iterator[Any]:
    """The engine as the service builds it (each connection sets the service's quotas), the
    requests committing on it: another test may have swapped the process's engine for a plain
    one."""
    from core.config import get_settings
    from core.db import use_engine
    from core.db.engine import build_engine

    built = build_engine(get_settings())
    use_engine(built)
    yield built
    use_engine(engine)
    built.dispose()


def test_the_default_allows_four_unfinished_runs(service_engine, queue, backends):
    from core.devserver import local_app

    client = local_app(docs=False, backends=backends).test_client()
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    answers = [start_async(client, headers, agent["id"]) for _ in range(5)]
    assert [a.status_code for a in answers] == [202, 202, 202, 202, 429]
    body = assert_error(answers[-1], 429, "quota_exceeded")
    assert body["details"][0]["loc"] == ["quota", "max_concurrent_runs"]
    assert int(answers[-1].headers["Retry-After"]) > 0
    usage = client.get("/users/me/usage?days=1", headers=headers).get_json()
    assert usage["limits"]["max_concurrent_runs"] == 4
    assert usage["limits"]["active_runs"] == 4


def test_a_run_that_ends_gives_its_slot_back(client, db, queue, worker_headers):
    user, headers = signed_up(client)
    _, admin = signed_up_with_role(client, db, "admin")
    limit(client, admin, user["id"], max_concurrent_runs=1)
    agent = create_agent(client, headers)
    first = start_async(client, headers, agent["id"])
    assert first.status_code == 202
    before = db.scalar(select(func.count()).select_from(AgentExecution))
    assert_error(start_async(client, headers, agent["id"]), 429, "quota_exceeded")
    assert db.scalar(select(func.count()).select_from(AgentExecution)) == before  # nothing written
    assert client.post(queue.tasks[0].path, headers=worker_headers).status_code == 200
    assert start_async(client, headers, agent["id"]).status_code == 202
    # a sync run holds its slot only while it runs
    limit(client, admin, user["id"], max_concurrent_runs=2)
    assert execute(client, headers, agent["id"]).get_json()["status"] == "succeeded"
    assert execute(client, headers, agent["id"]).get_json()["status"] == "succeeded"


def test_a_days_tokens_spent_refuse_the_next_run_until_midnight(client, db):
    user, headers = signed_up(client)
    _, admin = signed_up_with_role(client, db, "admin")
    limit(client, admin, user["id"], daily_tokens=1)
    agent = create_agent(client, headers)
    stopped = execute(client, headers, agent["id"]).get_json()  # clamped to the 1 token left
    assert stopped["status"] == "failed"
    assert stopped["error"]["code"] == "quota_exceeded"
    refused = execute(client, headers, agent["id"])
    body = assert_error(refused, 429, "quota_exceeded")
    assert body["details"][0]["loc"] == ["quota", "daily_tokens"]
    assert 0 < int(refused.headers["Retry-After"]) <= 86400
    limit(client, admin, user["id"])  # back to the service's: unlimited
    assert execute(client, headers, agent["id"]).status_code == 200


def test_a_runs_token_limit_is_clamped_to_what_is_left_of_the_day(
    client, db, queue, worker_headers
):
    user, headers = signed_up(client)
    _, admin = signed_up_with_role(client, db, "admin")
    agent = create_agent(client, headers, definition=definition(tools=tools("file_write")))
    first = execute(client, headers, agent["id"]).get_json()
    assert first["status"] == "succeeded"
    assert first["usage"]["requests"] == 2
    spent = first["usage"]["input_tokens"] + first["usage"]["output_tokens"]
    # half a run's tokens left: the next run stops there rather than at its own 200000
    limit(client, admin, user["id"], daily_tokens=spent + spent // 2)
    second = execute(client, headers, agent["id"]).get_json()
    assert second["status"] == "failed", second
    assert second["error"]["code"] == "quota_exceeded"
    assert f"{spent // 2} tokens" in second["error"]["message"]
    # an async run, which the worker loads, is clamped the same way
    used = client.get("/users/me/usage?days=1", headers=headers).get_json()["days"][0]
    used_tokens = used["input_tokens"] + used["output_tokens"]
    limit(client, admin, user["id"], daily_tokens=used_tokens + spent // 2)
    started = start_async(client, headers, agent["id"])
    assert client.post(queue.tasks[-1].path, headers=worker_headers).status_code == 200
    third = client.get(f"/executions/{started.get_json()['id']}", headers=headers).get_json()
    assert third["status"] == "failed"
    assert third["error"]["code"] == "quota_exceeded"
    # with room for a whole run, it runs to its end
    limit(client, admin, user["id"], daily_tokens=used_tokens * 10)
    assert execute(client, headers, agent["id"]).get_json()["status"] == "succeeded"


def test_runs_waiting_for_approval_hold_no_slot(client, db, queue, worker_headers):
    from tests.integration.test_approvals import agent_with_approvals, decide, deliver
    from tests.integration.test_approvals import execute as execute_waiting

    user, headers = signed_up(client)
    _, admin = signed_up_with_role(client, db, "admin")
    limit(client, admin, user["id"], max_concurrent_runs=2)
    waiting_agent = agent_with_approvals(client, headers)
    waiting = [execute_waiting(client, headers, waiting_agent).get_json() for _ in range(4)]
    assert [w["status"] for w in waiting] == ["waiting_approval"] * 4
    usage = client.get("/users/me/usage?days=1", headers=headers).get_json()
    assert usage["limits"]["active_runs"] == 0
    # four runs waiting a day for a person block neither a start nor a schedule's run
    agent = create_agent(client, headers)
    assert start_async(client, headers, agent["id"]).status_code == 202
    assert start_async(client, headers, agent["id"]).status_code == 202
    assert_error(start_async(client, headers, agent["id"]), 429, "quota_exceeded")
    # a decision takes the slot back even past the limit (it is a person's), and ending gives it
    approve = {"tool_call_id": "w", "approved": True}
    assert decide(client, headers, waiting[0]["id"], approve).status_code == 202
    usage = client.get("/users/me/usage?days=1", headers=headers).get_json()
    assert usage["limits"]["active_runs"] == 3
    deliver(client, queue, worker_headers)  # the two starts and the resumed run all end
    usage = client.get("/users/me/usage?days=1", headers=headers).get_json()
    assert usage["limits"]["active_runs"] == 0
    # a waiting run cancelled gives nothing back twice
    cancelled = client.post(f"/executions/{waiting[1]['id']}/cancel", headers=headers)
    assert cancelled.status_code == 202
    usage = client.get("/users/me/usage?days=1", headers=headers).get_json()
    assert usage["limits"]["active_runs"] == 0
    assert start_async(client, headers, agent["id"]).status_code == 202
    assert start_async(client, headers, agent["id"]).status_code == 202
    assert_error(start_async(client, headers, agent["id"]), 429, "quota_exceeded")


# -- a daily cost budget -------------------------------------------------------------------------


def costing(cost: str | None, calls: list[int]) -> Any:
    """A model whose every response costs `cost` USD (None: it has no price) and asks for a tool
    call until told to stop, counting its requests in `calls`."""
    from decimal import Decimal

    from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
    from pydantic_ai.models.function import FunctionModel
    from pydantic_ai.usage import RequestUsage

    def respond(messages: Any, info: Any) -> ModelResponse:
        calls.append(1)
        usage = RequestUsage(
            input_tokens=10, output_tokens=5, cost=None if cost is None else Decimal(cost)
        )
        if len(calls) >= 6:
            return ModelResponse(parts=[TextPart("done")], usage=usage)
        call = ToolCallPart("file_write", {"path": f"{len(calls)}.txt", "content": "x"})
        return ModelResponse(parts=[call], usage=usage)

    return FunctionModel(respond)


def test_a_model_without_a_price_is_refused_under_a_cost_budget(client, db, queue, worker_headers):
    from tests.support.backends import answering

    user, headers = signed_up(client)
    _, admin = signed_up_with_role(client, db, "admin")
    unknown = {"provider": "google-vertex", "name": "gemini-9-ultra"}
    agent = create_agent(
        client, headers, definition=definition(model=unknown, tools=tools("file_write"))
    )
    calls: list[int] = []
    with answering(client, costing(None, calls)):
        # no budget: an unpriced model runs (its cost is unknown, not zero)
        free = execute(client, headers, agent["id"]).get_json()
        assert free["status"] == "succeeded", free
        assert free["cost"] is None
        limit(client, admin, user["id"], daily_cost_usd=5)
        calls.clear()
        refused = execute(client, headers, agent["id"]).get_json()
        assert refused["status"] == "failed"
        assert refused["error"]["code"] == "quota_exceeded"
        assert "google-vertex:gemini-9-ultra has no known price" in refused["error"]["message"]
        assert calls == []  # refused before any model call
        # a fallback without a price is refused as well, and an async run as its worker loads it
        known = definition(
            model={"provider": "google-vertex", "name": "gemini-2.5-flash", "fallback": [unknown]},
            tools=tools("file_write"),
        )
        fallback = create_agent(client, headers, definition=known)
        assert execute(client, headers, fallback["id"]).get_json()["status"] == "failed"
        started = start_async(client, headers, agent["id"]).get_json()
        assert client.post(queue.tasks[-1].path, headers=worker_headers).status_code == 200
        ran = client.get(f"/executions/{started['id']}", headers=headers).get_json()
        assert ran["error"]["code"] == "quota_exceeded"
        # a workflow's step is the user's run too
        flow = create_agent(
            client,
            headers,
            definition=definition(workflow={"type": "sequential", "steps": [agent["id"]]}),
        )
        stepped = execute(client, headers, flow["id"]).get_json()
        assert stepped["status"] == "failed", stepped
        assert calls == []


def test_a_runs_cost_stops_at_what_is_left_of_the_days_budget(client, db):
    from decimal import Decimal

    from tests.support.backends import answering

    user, headers = signed_up(client)
    _, admin = signed_up_with_role(client, db, "admin")
    priced = {"provider": "google-vertex", "name": "gemini-2.5-flash"}
    agent = create_agent(
        client, headers, definition=definition(model=priced, tools=tools("file_write"))
    )
    limit(client, admin, user["id"], daily_cost_usd=0.0025)
    calls: list[int] = []
    with answering(client, costing("0.001", calls)):
        stopped = execute(client, headers, agent["id"]).get_json()
    assert stopped["status"] == "failed", stopped
    assert stopped["error"]["code"] == "quota_exceeded"
    assert "cost budget: 0.0025 USD" in stopped["error"]["message"]
    assert len(calls) == 3  # the fourth request would have gone past 0.0025
    assert Decimal(str(stopped["cost"])) == Decimal("0.003")
    # each model call's own price is in its event (the console's trace shows it per call)
    answers = [
        e for e in events_of(client, headers, stopped["id"]) if e["type"] == "model_response"
    ]
    # (the third crossed the budget: its cost counts, but the run stopped before acting on it)
    assert [Decimal(e["payload"]["cost_usd"]) for e in answers] == [Decimal("0.001")] * 2
    refused = execute(client, headers, agent["id"])
    body = assert_error(refused, 429, "quota_exceeded")
    assert body["details"][0]["loc"] == ["quota", "daily_cost_usd"]


def test_the_database_holds_the_quota_functions_core_runs_quotas_states(db):
    """The module is the quota rule's one home: a body changed there without a migration, or in
    a migration without the module, fails here."""
    from core.runs.quotas import FUNCTIONS

    held = {
        name: " ".join(body.split())
        for name, body in db.execute(
            select(
                func.format("%s(%s)", text("proname"), text("pg_get_function_arguments(oid)")),
                text("prosrc"),
            )
            .select_from(text("pg_proc"))
            .where(text("pronamespace = 'public'::regnamespace"))
        )
    }
    for name, (_, _, _, body) in FUNCTIONS.items():
        assert held.get(name) == " ".join(body.split()), name
