"""Uploads sent at the same moment by one user: the quota holds (a per-user advisory lock
counts one user's uploads one at a time). Real commits from concurrent transactions
(tests.support.concurrency)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.config import reset_settings
from tests.support.concurrency import at_once, committing_app, own_database, users  # noqa: F401

CALLERS = 10
ROOM = 3


@pytest.fixture(scope="module")
def scratch_engine(engine: Engine, database_url: str) -> Iterator[Engine]:
    yield from own_database(engine, database_url, pool_size=CALLERS + 5)


def test_uploads_at_once_cannot_all_take_the_last_room(app, monkeypatch):
    monkeypatch.setenv("KNOWLEDGE_MAX_DOCUMENTS", str(ROOM))
    reset_settings()
    try:
        ((user_id, headers),) = users(1)
        client = app.test_client()
        kb = client.post("/knowledge-bases", headers=headers, json={"name": "race"}).get_json()
        responses = at_once(
            app,
            [
                lambda c, n=n: c.post(
                    f"/knowledge-bases/{kb['id']}/documents",
                    headers=headers,
                    json={"title": f"doc {n}", "text": f"Document number {n} of the race."},
                )
                for n in range(CALLERS)
            ],
        )
    finally:
        reset_settings()
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] * ROOM + [429] * (CALLERS - ROOM), statuses
    from core.db import transaction

    with transaction() as db:
        stored = db.scalar(
            sa.text("SELECT count(*) FROM knowledge_documents WHERE owner_id = :u"),
            {"u": user_id},
        )
    assert stored == ROOM
