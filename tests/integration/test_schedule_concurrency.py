"""Several sweepers at once (real threads, each with its own connection, committing): every due
slot becomes exactly one execution."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from core.models.executions import AgentExecution
from tests.integration.test_schedules import at, make, sweep_at
from tests.support.agents import create_agent
from tests.support.concurrency import at_once, committing_app, own_database, users  # noqa: F401
from tests.support.queues import RecordingQueue


@pytest.fixture(scope="module")
def scratch_engine(engine: Engine, database_url: str) -> Iterator[Engine]:
    yield from own_database(engine, database_url, pool_size=24)


def test_eight_sweepers_at_once_start_each_due_slot_once(app):
    from core.db import transaction

    [(_, headers)] = users(1)
    client = app.test_client()
    agent = create_agent(client, headers)
    made = [make(client, headers, agent["id"]) for _ in range(4)]
    slot: datetime = max(at(m["next_run_at"]) for m in made)
    queue = RecordingQueue()
    answers = at_once(
        app,
        [lambda _client: sweep_at(slot + timedelta(seconds=1), queue) for _ in range(8)],
    )
    assert sum(a["fired"] for a in answers) == 4
    with transaction() as db:
        started = db.scalars(
            select(AgentExecution.schedule_id).where(AgentExecution.agent_id == agent["id"])
        ).all()
    assert Counter(str(s) for s in started) == {m["id"]: 1 for m in made}
