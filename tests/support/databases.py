"""Databases of their own on the test server, beside the suite's: for what must commit for real
without its leftovers acting in other tests (a server's sweeper, concurrent transactions)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import make_url


@contextmanager
def scratch_database(database_url: str, prefix: str, *, migrated: bool) -> Iterator[str]:
    """The URL of a new database on `database_url`'s server, named `prefix` and a random part,
    migrated to head when `migrated` (else empty: a server started on it migrates it, as
    `make dev` does). Dropped afterwards, whoever is still connected."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = sa.create_engine(
        make_url(database_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    try:
        if migrated:
            from core.db.migrate import upgrade_to_head

            engine = sa.create_engine(url)
            try:
                upgrade_to_head(engine)
            finally:
                engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
