"""Alembic environment: synchronous (pg8000 has no async dialect), on the service's own engine
so Cloud SQL connector, DATABASE_URL and the embedded server all work the same way."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from core.db.migrate import include_object
from core.models import all_models

target_metadata = all_models()


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    from core.db import get_engine

    with get_engine().connect() as connection:
        run_with(connection)


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_online()
