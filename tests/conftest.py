"""Shared fixtures.

Every test run gets its own freshly migrated database (on TEST_DATABASE_URL's server when set,
else on the embedded pgserver under .data/test-pg). Integration tests run inside a transaction
that is rolled back at the end; e2e tests talk HTTP to a real server process and use unique
names instead."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parents[1]
TEST_SECRET_KEY = "test-secret-key-" + "x" * 48


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.support.report import SECTIONS

    for name, lines in SECTIONS.items():
        terminalreporter.section(name)
        for line in lines:
            terminalreporter.write_line(line)


def pytest_configure(config: pytest.Config) -> None:
    os.environ.update(
        APP_ENV="local",
        SECRET_KEY=TEST_SECRET_KEY,
        LOG_LEVEL="WARNING",
        # Argon2id at its cheapest: a sign-up and a login cost ~270 ms at production's cost,
        # and most tests sign a user up (the processes it starts inherit this)
        PASSWORD_HASH_TIME_COST="1",
        PASSWORD_HASH_MEMORY_KIB="64",
    )


def _server_url(tmp_root: Path) -> str:
    from core.db.engine import pg8000_url

    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return pg8000_url(url)
    from core.db.embedded import embedded_database_url

    return pg8000_url(embedded_database_url(ROOT / ".data" / "test-pg"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A new database on the test server, migrated to head, dropped after the run."""
    from core.config import reset_settings
    from core.db import reset_engine
    from core.db.notices import reset_notices
    from tests.support.databases import scratch_database

    server = _server_url(tmp_path_factory.getbasetemp())
    with scratch_database(server, f"agents_test_{os.getpid()}", migrated=True) as url:
        os.environ["DATABASE_URL"] = url
        reset_settings()
        reset_engine()
        yield url
        reset_notices()  # its connection goes with the database
        reset_engine()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    from core.db import get_engine

    return get_engine()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction rolled back after the test. Every unit of work the
    service opens during the test (HTTP handlers included) joins it through savepoints."""
    from core.db import use_sessions

    connection = engine.connect()
    outer = connection.begin()
    factory = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    use_sessions(factory)
    session = factory()
    try:
        yield session
    finally:
        session.close()
        use_sessions(None)
        outer.rollback()
        connection.close()


@pytest.fixture
def backends(request: pytest.FixtureRequest) -> Any:
    """What the test's apps give their handlers: the process's own, but for the fakes the test
    asks for: `queue` (tasks recorded, not delivered), `artifact_store` (a store of its own)."""
    from core.runs.backends import Backends

    given: dict[str, Any] = {}
    if "queue" in request.fixturenames:
        given["queue"] = request.getfixturevalue("queue")
    if "artifact_store" in request.fixturenames:
        given["artifacts"] = request.getfixturevalue("artifact_store")
    return Backends(**given)


@pytest.fixture
def app(db: Session, backends: Any) -> Any:
    from core.devserver import local_app

    return local_app(docs=False, backends=backends)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


def unique_name(prefix: str = "user") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"
