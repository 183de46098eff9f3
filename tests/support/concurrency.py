"""For tests that need real commits from concurrent transactions, which the rolled-back `db`
fixture cannot give: a throwaway database of the module's own (created and migrated, dropped
afterwards), an app whose every request commits, committed users, and a way to release many
requests at once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.support.databases import scratch_database


def own_database(engine: Engine, database_url: str, *, pool_size: int) -> Iterator[Engine]:
    """Body of a module's `scratch_engine` fixture: a migrated database serving every unit of
    work while the module runs."""
    from core.db import use_engine

    with scratch_database(database_url, "agents_concurrency", migrated=True) as url:
        scratch = sa.create_engine(url, pool_size=pool_size, max_overflow=0)
        try:
            use_engine(scratch)
            yield scratch
        finally:
            use_engine(engine)
            scratch.dispose()


@pytest.fixture(name="app")
def committing_app(scratch_engine: Engine, backends: Any) -> Any:
    """The local app without the rolled-back `db` fixture: every request commits."""
    from core.db import use_sessions
    from core.devserver import local_app

    use_sessions(None)
    return local_app(docs=False, backends=backends)


def users(count: int) -> list[tuple[uuid.UUID, dict[str, str]]]:
    """Committed users and their bearer headers (no password hashing: tokens are issued)."""
    from core.auth.tokens import issue_token
    from core.clock import utcnow
    from core.config import get_settings
    from core.db import transaction
    from core.models.users import User

    made = []
    with transaction() as db:
        for _ in range(count):
            name = f"c_{uuid.uuid4().hex[:12]}"
            user = User(username=name, email=f"{name}@example.com", password_hash="-")
            db.add(user)
            db.flush()
            token, _ = issue_token(
                get_settings(), user_id=user.id, token_type="access", now=utcnow()
            )
            made.append((user.id, {"Authorization": f"Bearer {token}"}))
    return made


def at_once(app: Any, calls: list[Callable[[Any], Any]]) -> list[Any]:
    """Run each call in its own thread with its own client, all released together."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        client = app.test_client()
        barrier.wait()
        results[index] = calls[index](client)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results
