"""Deciding a step's call at the step and at its workflow at the same moment: the rows are
locked in one order (workflow, then step) whichever level is decided, so one decision lands
and the other hears 409 or 422, never a deadlock's 5xx.

Real commits from concurrent transactions (tests.support.concurrency)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from tests.integration.test_approvals import WRITE, team_model
from tests.support.agents import create_agent, definition
from tests.support.backends import answering
from tests.support.concurrency import at_once, committing_app, own_database, users  # noqa: F401

ROUNDS = 8


@pytest.fixture(scope="module")
def scratch_engine(engine: Engine, database_url: str) -> Iterator[Engine]:
    yield from own_database(engine, database_url, pool_size=8)


def test_a_call_decided_at_its_step_and_its_workflow_at_once_is_decided_once(
    app: Any, queue: Any
) -> None:
    ((_, headers),) = users(1)
    client = app.test_client()
    writer = create_agent(client, headers, definition=definition(tools=[WRITE]))
    flow = create_agent(
        client,
        headers,
        definition={
            "system_prompt": "",
            "workflow": {"type": "sequential", "steps": [writer["id"]]},
        },
    )
    answers: Counter[int] = Counter()
    for _ in range(ROUNDS):
        with answering(app, team_model()):
            parent = client.post(
                f"/agents/{flow['id']}/execute", headers=headers, json={"input": "go"}
            ).get_json()
        [pending] = parent["pending_approvals"]
        decision = {"decisions": [{"tool_call_id": pending["tool_call_id"], "approved": True}]}
        at_parent = f"/executions/{parent['id']}/approvals"
        at_step = f"/executions/{pending['execution_id']}/approvals"
        responses = at_once(
            app,
            [
                lambda c, url=at_parent, body=decision: c.post(url, headers=headers, json=body),
                lambda c, url=at_step, body=decision: c.post(url, headers=headers, json=body),
            ],
        )
        statuses = sorted(r.status_code for r in responses)
        answers.update(statuses)
        assert statuses[0] == 202, [r.get_json() for r in responses]
        assert statuses[1] in (409, 422), [r.get_json() for r in responses]
    assert answers[202] == ROUNDS
