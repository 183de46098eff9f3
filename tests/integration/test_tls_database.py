"""The service on a PostgreSQL that speaks TLS only, as Cloud SQL through its connector does
(`DATABASE_URL` with `sslmode=require`): the notice listener keeps one connection while idle
(a TLS socket with nothing to read must not look broken), followers are woken by notices, and
runs are recorded and followed as on a plain socket."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from core.config import reset_settings
from core.db import reset_engine, use_engine
from core.db.notices import notices, reset_notices
from tests.integration.test_following import Follower
from tests.support.agents import create_agent
from tests.support.api import signed_up
from tests.support.postgres_instance import postgres_instance
from tests.support.report import report

IDLE_S = float(os.environ.get("TLS_IDLE_S", "6"))
FOLLOWERS = 20


@pytest.fixture(scope="module")
def tls_app(engine: Any) -> Iterator[Any]:
    """The local app on a TLS-only PostgreSQL of its own (migrated), every request committing."""
    from core.db.engine import build_engine
    from core.db.migrate import upgrade_to_head
    from core.db.notices import reset_notices as forget_listener
    from core.devserver import local_app
    from core.runs.backends import Backends
    from tests.support.queues import RecordingQueue

    saved = os.environ["DATABASE_URL"]
    with postgres_instance(tls=True) as pg:
        os.environ["DATABASE_URL"] = pg.url
        reset_settings()
        forget_listener()
        from core.config import get_settings

        tls_engine = build_engine(get_settings())
        try:
            upgrade_to_head(tls_engine)
            use_engine(tls_engine)
            with tls_engine.connect() as conn:
                assert conn.scalar(
                    sa.text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                )
            # its own recorded queue: the app outlives any one test's `queue`
            yield local_app(docs=False, backends=Backends(queue=RecordingQueue())).test_client()
        finally:
            reset_notices()
            tls_engine.dispose()
            os.environ["DATABASE_URL"] = saved
            reset_settings()
            reset_engine()
            use_engine(engine)


def test_the_listener_keeps_one_connection_while_idle_over_tls(
    tls_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="core.db.notices")
    client = tls_app
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    session = client.post("/sessions", headers=headers, json={"agent_id": agent["id"]}).get_json()
    followers = [
        Follower(client, f"/sessions/{session['id']}/events", headers) for _ in range(FOLLOWERS)
    ]
    assert notices().listening.wait(10)
    connections, wakes = notices().connections, notices().wakes_all
    time.sleep(IDLE_S)  # nobody writes anything
    opened = notices().connections - connections
    woken = notices().wakes_all - wakes
    warnings = [r for r in caplog.records if "lost its connection" in r.getMessage()]
    report(
        "TLS listener",
        f"{IDLE_S:g} idle seconds with {FOLLOWERS} followers over TLS: {opened} connections "
        f"opened, {woken} wake-ups of every follower, {len(warnings)} warnings",
    )
    assert (opened, woken, warnings) == (0, 0, [])

    # and a notice over TLS wakes them: a turn's events reach every follower
    turn = client.post(
        f"/sessions/{session['id']}/messages", headers=headers, json={"content": "hello"}
    )
    assert turn.status_code == 200
    assert turn.get_json()["status"] == "succeeded"
    for follower in followers:
        follower.wait_for("status")
    assert notices().connections - connections == 0


def test_a_run_is_recorded_and_followed_over_tls(tls_app: Any, worker_headers: Any) -> None:
    from tests.integration.test_async_runs import start_async
    from tests.support.backends import backends_of

    client = tls_app
    queue: Any = backends_of(client).queue
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    execution = start_async(client, headers, agent["id"]).get_json()
    follower = Follower(client, f"/executions/{execution['id']}/events", headers)
    follower.wait_for("user_message")
    assert client.post(queue.tasks[0].path, headers=worker_headers).status_code == 200
    assert follower.done.wait(10)
    assert follower.kinds()[-1] == "end"
    done = client.get(f"/executions/{execution['id']}", headers=headers).get_json()
    assert done["status"] == "succeeded"
