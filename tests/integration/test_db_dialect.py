"""The pg8000 dialect with prepared statements (core.db.dialect) against a real PostgreSQL:
fewer round trips must not change what a statement, a transaction or an error means."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pg8000.dbapi
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from core.db import dialect as prepared_dialect


def _setup(engine: Engine, table: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(sa.text(f"CREATE TABLE {table} (id int PRIMARY KEY, label text NOT NULL)"))


@pytest.fixture
def scratch(database_url: str) -> Iterator[tuple[Engine, str]]:
    """An engine of our dialect (URL-made, so pg8000.legacy connections) and a table of its own."""
    engine = sa.create_engine(database_url, pool_size=1, max_overflow=0, pool_pre_ping=True)
    assert isinstance(engine.dialect, prepared_dialect.PreparedPG8000Dialect)
    table = f"probe_{uuid.uuid4().hex[:8]}"
    _setup(engine, table)
    yield engine, table
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()


def _dbapi_engine(database_url: str) -> Engine:
    """Connections made the way the Cloud SQL connector makes them: pg8000.dbapi.connect."""
    url = make_url(database_url)

    def connect() -> Any:
        return pg8000.dbapi.connect(
            user=url.username or "postgres",
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            database=url.database,
            unix_sock=url.query.get("unix_sock"),  # type: ignore[arg-type]
        )

    return sa.create_engine(
        "postgresql+pg8000prepared://", creator=connect, pool_size=1, max_overflow=0
    )


def _server_statements(conn: sa.Connection) -> int:
    return int(conn.execute(sa.text("SELECT count(*) FROM pg_prepared_statements")).scalar_one())


def test_a_repeated_statement_is_prepared_once_and_returns_its_rows(
    scratch: tuple[Engine, str],
) -> None:
    engine, table = scratch
    with engine.begin() as conn:
        for i in range(5):
            conn.execute(
                sa.text(f"INSERT INTO {table} VALUES (:id, :label)"), {"id": i, "label": f"n{i}"}
            )
        query = sa.text(f"SELECT id, label FROM {table} WHERE id >= :low ORDER BY id")
        before = _server_statements(conn)
        rows = [conn.execute(query, {"low": low}).all() for low in (0, 3, 9)]
        after = _server_statements(conn)
    assert rows == [[(i, f"n{i}") for i in range(5)], [(3, "n3"), (4, "n4")], []]
    assert after == before + 1  # three executions, one prepared statement (plus the count's own)


def test_rollback_undoes_the_statement_sent_with_its_begin(scratch: tuple[Engine, str]) -> None:
    engine, table = scratch
    insert = sa.text(f"INSERT INTO {table} VALUES (:id, :label)")
    with engine.begin() as conn:  # prepare the statement first, so the next BEGIN rides along
        conn.execute(insert, {"id": 1, "label": "kept"})
    with engine.connect() as conn:
        conn.execute(insert, {"id": 2, "label": "undone"})
        conn.rollback()
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT id FROM {table} ORDER BY id")).scalars().all() == [1]


@pytest.mark.parametrize("how", ["url", "cloud-sql-style"])
def test_a_unique_violation_is_an_integrity_error_on_both_connection_kinds(
    database_url: str, how: str
) -> None:
    engine = (
        sa.create_engine(database_url, pool_size=1) if how == "url" else _dbapi_engine(database_url)
    )
    table = f"probe_{uuid.uuid4().hex[:8]}"
    _setup(engine, table)
    insert = sa.text(f"INSERT INTO {table} VALUES (:id, :label)")
    try:
        with engine.begin() as conn:
            conn.execute(insert, {"id": 1, "label": "a"})
        for _ in range(2):  # unprepared, then prepared
            with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
                conn.execute(insert, {"id": 1, "label": "again"})
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(insert, {"id": 2, "label": None})  # not null: class 23 as well
        with pytest.raises(sa.exc.ProgrammingError), engine.begin() as conn:
            conn.execute(sa.text(f"SELECT no_such_column FROM {table} WHERE id = :id"), {"id": 1})
        # the connection is usable afterwards
        with engine.begin() as conn:
            assert (
                conn.execute(
                    sa.text(f"SELECT label FROM {table} WHERE id = :id"), {"id": 1}
                ).scalar_one()
                == "a"
            )
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


def test_the_statement_cache_is_bounded_on_the_server_too(
    scratch: tuple[Engine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, table = scratch
    monkeypatch.setattr(prepared_dialect, "STATEMENT_CACHE_SIZE", 4)
    with engine.connect() as conn:
        for width in range(1, 12):  # eleven distinct statements
            ids = list(range(width))
            conn.execute(
                sa.text(f"SELECT id FROM {table} WHERE id IN :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                ),
                {"ids": ids},
            ).all()
        assert _server_statements(conn) <= 5


def test_a_statement_whose_result_changed_shape_recovers_after_one_error(
    scratch: tuple[Engine, str],
) -> None:
    engine, table = scratch
    query = sa.text(f"SELECT * FROM {table} WHERE id = :id")
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO {table} VALUES (1, 'a')"))
        assert conn.execute(query, {"id": 1}).one() == (1, "a")
    with engine.begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN extra int DEFAULT 7"))
    with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
        conn.execute(query, {"id": 1}).all()
    with engine.begin() as conn:
        assert conn.execute(query, {"id": 1}).one() == (1, "a", 7)


def test_sessions_plan_every_execution_with_its_parameters(scratch: tuple[Engine, str]) -> None:
    engine, _ = scratch
    with engine.connect() as conn:
        assert conn.execute(sa.text("SHOW plan_cache_mode")).scalar_one() == "force_custom_plan"


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(
    scratch: tuple[Engine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, table = scratch
    with engine.connect() as conn:
        first_pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    killer = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
    with killer.begin() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})
    killer.dispose()
    time.sleep(0.2)
    monkeypatch.setattr(prepared_dialect, "IDLE_PING_S", 0.0)
    with engine.connect() as conn:  # the ping finds the connection dead; the pool makes another
        second_pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() == 0
    assert second_pid != first_pid


def test_a_recently_used_connection_is_handed_out_without_a_ping(
    scratch: tuple[Engine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _ = scratch
    simple: list[str] = []
    real = prepared_dialect._simple

    def counting(conn: Any, statement: str) -> None:
        simple.append(statement)
        real(conn, statement)

    monkeypatch.setattr(prepared_dialect, "_simple", counting)
    for _ in range(3):
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT :x"), {"x": 1}).all()
    assert ";" not in simple
    monkeypatch.setattr(prepared_dialect, "IDLE_PING_S", 0.0)
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT :x"), {"x": 1}).all()
    assert simple.count(";") == 1


def test_an_executemany_insert_is_one_multi_row_statement(scratch: tuple[Engine, str]) -> None:
    engine, table = scratch
    sent: list[str] = []
    target = sa.table(table, sa.column("id", sa.Integer), sa.column("label", sa.Text))
    sa.event.listen(engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    with engine.begin() as conn:
        conn.execute(sa.insert(target), [{"id": i, "label": f"n{i}"} for i in range(3)])
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() == 3
    inserts = [statement for statement in sent if statement.startswith("INSERT")]
    assert len(inserts) == 1
    assert inserts[0].count("(%s::INTEGER, %s::VARCHAR)") == 3


def test_a_relaxed_commit_sends_its_setting_with_the_commit_and_only_once(
    scratch: tuple[Engine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.orm import Session

    from core.db import commit_relaxed

    engine, table = scratch
    simple: list[str] = []
    real = prepared_dialect._simple

    def recording(conn: Any, statement: str) -> None:
        simple.append(statement)
        real(conn, statement)

    monkeypatch.setattr(prepared_dialect, "_simple", recording)
    insert = sa.text(f"INSERT INTO {table} VALUES (:id, :label)")
    with Session(engine) as session:
        session.execute(insert, {"id": 1, "label": "relaxed"})
        commit_relaxed(session)
        session.execute(insert, {"id": 2, "label": "durable"})
        session.commit()
    assert simple[-2:] == ["SET LOCAL synchronous_commit = off; commit", "commit"]
    with engine.connect() as conn:  # both committed, and the setting did not outlive its commit
        assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() == 2
        assert conn.execute(sa.text("SHOW synchronous_commit")).scalar_one() == "on"
