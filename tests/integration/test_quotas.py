"""Quotas, enforced by the database as a run starts (migration 0012): unfinished runs per user
exactly under parallel starts, a day's tokens, admin overrides; a run that ends gives its slot
back; a refused start writes nothing and answers 429 `quota_exceeded` naming the limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from core.models.executions import AgentExecution
from tests.integration.test_async_runs import start_async
from tests.support.agents import create_agent, definition, execute, tools
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


def test_the_default_allows_four_unfinished_runs(service_engine, queue):
    from core.devserver import local_app

    client = local_app(docs=False).test_client()
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
