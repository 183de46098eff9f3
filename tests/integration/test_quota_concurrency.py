"""Quotas under real concurrency: parallel starts of one user against its limit start exactly
that many (the user's row lock queues them inside the database; each re-reads the count)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from core.models.executions import AgentExecution
from tests.support.agents import create_agent
from tests.support.concurrency import at_once, committing_app, own_database, users  # noqa: F401


@pytest.fixture(scope="module")
def scratch_engine(engine: Engine, database_url: str) -> Iterator[Engine]:
    yield from own_database(engine, database_url, pool_size=24)


def test_twenty_parallel_starts_against_a_limit_of_four_start_exactly_four(app, queue):
    from core.db import transaction
    from core.models.users import User

    [(user_id, headers)] = users(1)
    with transaction() as db:
        db.get(User, user_id).limits = {"max_concurrent_runs": 4}
    agent = create_agent(app.test_client(), headers)
    answers = at_once(
        app,
        [
            lambda client: client.post(
                f"/agents/{agent['id']}/execute",
                headers=headers,
                json={"input": "go", "mode": "async"},
            )
        ]
        * 20,
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [202] * 4 + [429] * 16
    with transaction() as db:
        started = db.scalar(
            select(func.count())
            .select_from(AgentExecution)
            .where(AgentExecution.user_id == uuid.UUID(str(user_id)))
        )
        active = db.get(User, user_id).active_runs
    assert (started, active) == (4, 4)
