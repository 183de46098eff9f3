"""Deliveries of one eval's driver at the same moment, from real threads committing real
transactions (tests.support.concurrency): one of them starts cases, up to the eval's
concurrency, and no case gets a second execution."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.config import reset_settings
from tests.support.concurrency import at_once, committing_app, own_database, users  # noqa: F401

DELIVERIES = 8
ROOM = 3


@pytest.fixture(scope="module")
def scratch_engine(engine: Engine, database_url: str) -> Iterator[Engine]:
    yield from own_database(engine, database_url, pool_size=DELIVERIES + 5)


def test_drivers_at_once_start_each_case_once(app, queue, worker_headers, monkeypatch):
    from core.db import transaction

    monkeypatch.setenv("EVAL_CONCURRENCY", str(ROOM))
    reset_settings()
    try:
        ((_, headers),) = users(1)
        client = app.test_client()
        agent = client.post(
            "/agents",
            headers=headers,
            json={"name": "raced", "display_name": "Raced", "definition": {}},
        ).get_json()
        cases = [{"name": f"c{i}", "input": f"case {i}"} for i in range(6)]
        made = client.post(
            f"/agents/{agent['id']}/eval-sets",
            headers=headers,
            json={
                "name": "race",
                "cases": cases,
                "evaluators": [{"type": "regex", "pattern": "."}],
            },
        ).get_json()
        started = client.post(
            f"/agents/{agent['id']}/evals", headers=headers, json={"eval_set_id": made["id"]}
        ).get_json()
        queue.tasks.clear()
        path = f"/tasks/evals/{started['id']}"
        responses = at_once(
            app, [lambda c: c.post(path, headers=worker_headers) for _ in range(DELIVERIES)]
        )
        assert all(r.status_code == 200 for r in responses)
        with transaction() as db:
            executions = db.scalar(
                sa.text("SELECT count(*) FROM agent_executions WHERE eval_id = :e"),
                {"e": started["id"]},
            )
            recorded = db.scalar(
                sa.text(
                    "SELECT count(DISTINCT execution_id) FROM eval_cases "
                    "WHERE eval_id = :e AND execution_id IS NOT NULL"
                ),
                {"e": started["id"]},
            )
        runs = [t for t in queue.tasks if t.path.startswith("/tasks/executions/")]
        assert (executions, recorded, len(runs)) == (ROOM, ROOM, ROOM)
        # the rest of the eval goes as usual: every case once, then the summary
        while queue.tasks:
            task = queue.tasks.pop(0)
            client.post(task.path, json=task.payload, headers=worker_headers)
        report = client.get(f"/evals/{started['id']}", headers=headers).get_json()
    finally:
        reset_settings()
    assert report["status"] == "succeeded", report
    assert len({case["execution_id"] for case in report["cases"]}) == 6
