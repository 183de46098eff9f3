"""Usage per UTC day from the daily rollup: every run that ends counts once on the day it ended
(a workflow once, not per step), the range lists every day, admins read anyone's, nobody else
does; runs that ended before the rollup existed were counted by its migration."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import update

from core.models.executions import AgentExecution
from tests.support.agents import create_agent, execute
from tests.support.api import assert_error, signed_up, signed_up_with_role


def usage(client: Any, headers: dict[str, str], path: str = "/users/me/usage", **query: Any) -> Any:
    response = client.get(path, headers=headers, query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_each_ended_run_counts_once_on_its_day(client, db):
    user, headers = signed_up(client)
    agent = create_agent(client, headers)
    runs = [execute(client, headers, agent["id"]).get_json() for _ in range(3)]
    assert all(run["status"] == "succeeded" for run in runs)

    report = usage(client, headers, days=7)
    assert report["user_id"] == user["id"]
    assert len(report["days"]) == 7
    today = report["days"][-1]
    assert today["date"] == datetime.now(UTC).date().isoformat()
    assert today["executions"] == 3
    assert today["input_tokens"] == sum(r["usage"]["input_tokens"] for r in runs)
    assert today["output_tokens"] == sum(r["usage"]["output_tokens"] for r in runs)
    assert Decimal(str(today["cost_usd"])) == 0  # the test model is not priced
    assert all(day["executions"] == 0 for day in report["days"][:-1])

    # a row changed later (e.g. a status written again) does not count twice
    db.execute(
        update(AgentExecution)
        .where(AgentExecution.id == uuid.UUID(runs[0]["id"]))
        .values(status="succeeded")
    )
    assert usage(client, headers, days=1)["days"][0]["executions"] == 3


def test_a_run_counts_on_the_day_it_ended(client, db, queue):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    run = execute(client, headers, agent["id"], mode="async").get_json()  # queued: not yet
    yesterday = datetime.now(UTC) - timedelta(days=1)
    db.execute(
        update(AgentExecution)
        .where(AgentExecution.id == uuid.UUID(run["id"]))
        .values(status="failed", finished_at=yesterday, input_tokens=40, output_tokens=2)
    )
    days = usage(client, headers, days=2)["days"]
    assert [d["executions"] for d in days] == [1, 0]
    assert days[0]["input_tokens"] == 40


def test_admins_read_anyones_usage_and_others_nobodys(client, db):
    user, headers = signed_up(client)
    _, admin = signed_up_with_role(client, db, "admin")
    assert len(usage(client, admin, f"/users/{user['id']}/usage", days=3)["days"]) == 3
    _, other = signed_up(client)
    assert_error(client.get(f"/users/{user['id']}/usage", headers=other), 403)
    assert_error(client.get(f"/users/{uuid.uuid4()}/usage", headers=admin), 404)
    for days in (0, 367, "x"):
        assert_error(client.get(f"/users/me/usage?days={days}", headers=headers), 422)
