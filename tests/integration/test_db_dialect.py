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

from core.db import custom_plan
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


def _plans(conn: sa.Connection, fragment: str) -> tuple[int, int] | None:
    """(generic, custom) plans the server made for this connection's prepared statement whose
    text contains `fragment`; None when there is no such named statement."""
    row = conn.execute(
        sa.text(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE '%' || :fragment || '%' AND statement NOT LIKE '%pg_prepared%'"
        ),
        {"fragment": fragment},
    ).one_or_none()
    return None if row is None else (int(row[0]), int(row[1]))


def test_a_repeated_statement_settles_on_a_generic_plan(scratch: tuple[Engine, str]) -> None:
    engine, table = scratch
    query = sa.text(f"SELECT label FROM {table} WHERE id = :id")
    with engine.connect() as conn:
        for i in range(8):
            conn.execute(query, {"id": i}).all()
        plans = _plans(conn, f"FROM {table} WHERE id =")
    assert plans is not None
    generic, custom = plans
    assert custom == 5
    assert generic == 3


def test_a_custom_plan_statement_is_planned_for_its_values_every_time(
    scratch: tuple[Engine, str],
) -> None:
    engine, table = scratch
    insert = sa.text(f"INSERT INTO {table} VALUES (:id, :label)")
    query = sa.text(f"SELECT id, label FROM {table} WHERE id >= :low ORDER BY id")
    with engine.connect() as conn:  # BEGIN travels with the first (unnamed) statement
        for i in range(8):
            conn.execute(insert, {"id": i, "label": f"n{i}"}, execution_options=custom_plan())
        conn.commit()
        rows = [
            conn.execute(query, {"low": low}, execution_options=custom_plan()).all()
            for low in (6, 9, 6, 6, 6, 6, 6)
        ]
        assert _plans(conn, f"FROM {table} WHERE id >=") is None  # never a named statement
        assert _plans(conn, f"INSERT INTO {table}") is None
    assert rows[0] == rows[-1] == [(6, "n6"), (7, "n7")]
    assert rows[1] == []
    with pytest.raises(sa.exc.IntegrityError), engine.connect() as conn:
        conn.execute(insert, {"id": 1, "label": "again"}, execution_options=custom_plan())
    with engine.connect() as conn:
        count = conn.execute(sa.text(f"SELECT count(*) FROM {table}"), execution_options={})
        assert count.scalar_one() == 8


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


def _recording_round_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What leaves for the server, one entry per round trip of our dialect."""
    sent: list[str] = []
    real_prepared, real_simple = prepared_dialect.execute_prepared, prepared_dialect._simple

    def prepared(cursor: Any, statement: str, parameters: Any, **options: Any) -> None:
        then = options.get("then")
        sent.append(statement.split()[0] + (f" + {then}" if then else ""))
        real_prepared(cursor, statement, parameters, **options)

    def simple(conn: Any, statement: str) -> None:
        sent.append(statement)
        real_simple(conn, statement)

    monkeypatch.setattr(prepared_dialect, "execute_prepared", prepared)
    monkeypatch.setattr(prepared_dialect, "_simple", simple)
    return sent


@pytest.mark.parametrize(
    ("relaxed", "commit"), [(False, "commit"), (True, "SET LOCAL synchronous_commit = off; commit")]
)
def test_a_last_statement_carries_its_commit(
    scratch: tuple[Engine, str], monkeypatch: pytest.MonkeyPatch, relaxed: bool, commit: str
) -> None:
    from sqlalchemy.orm import Session

    from core.db import then_commit

    engine, table = scratch
    insert = sa.text(f"INSERT INTO {table} VALUES (:id, :label)")
    with Session(engine) as session:  # prepare it first: only prepared statements carry more
        session.execute(insert, {"id": 1, "label": "first"})
        session.commit()
    sent = _recording_round_trips(monkeypatch)
    with Session(engine) as session:
        session.execute(
            insert, {"id": 2, "label": "last"}, execution_options=then_commit(relaxed=relaxed)
        )
        session.commit()  # nothing left to send
        session.execute(insert, {"id": 3, "label": "next transaction"})
        session.commit()
    assert sent == [f"INSERT + {commit}", "INSERT", "commit"]
    with engine.connect() as conn:  # all committed, and the setting did not outlive its commit
        assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() == 3
        assert conn.execute(sa.text("SHOW synchronous_commit")).scalar_one() == "on"


def test_a_failing_last_statement_rolls_its_transaction_back(
    scratch: tuple[Engine, str],
) -> None:
    from sqlalchemy.orm import Session

    from core.db import then_commit

    engine, table = scratch
    insert = sa.text(f"INSERT INTO {table} VALUES (:id, :label)")
    with Session(engine) as session:
        session.execute(insert, {"id": 1, "label": "kept"})
        session.commit()
    with Session(engine) as session:
        session.execute(insert, {"id": 2, "label": "undone with the failure"})
        with pytest.raises(sa.exc.IntegrityError):
            session.execute(
                insert, {"id": 1, "label": "duplicate"}, execution_options=then_commit()
            )
        session.rollback()
        session.execute(insert, {"id": 4, "label": "usable afterwards"})
        session.commit()
    with engine.connect() as conn:
        ids = conn.execute(sa.text(f"SELECT id FROM {table} ORDER BY id")).scalars().all()
    assert ids == [1, 4]


def test_inside_a_savepoint_the_last_statement_does_not_commit(
    scratch: tuple[Engine, str],
) -> None:
    from sqlalchemy.orm import Session

    from core.db import then_commit

    engine, table = scratch
    insert = sa.text(f"INSERT INTO {table} VALUES (:id, :label)")
    with engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        for i in range(2):  # the second runs prepared, where the COMMIT could ride along
            session.execute(insert, {"id": i, "label": "x"}, execution_options=then_commit())
        session.commit()
        outer.rollback()
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() == 0


def test_timestamps_read_back_exactly(scratch: tuple[Engine, str]) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    engine, _ = scratch
    with engine.connect() as conn:
        conn.execute(sa.text("SET TIME ZONE 'Asia/Kolkata'"))  # a +05:30 offset on output
        row = conn.execute(
            sa.text(
                "SELECT TIMESTAMPTZ '2026-11-24 22:41:10.27+00',"
                " TIMESTAMPTZ '2026-11-24 22:41:10Z', TIMESTAMP '2026-01-02 03:04:05.000006',"
                " TIMESTAMPTZ 'infinity'"
            )
        ).one()
    india = timezone(timedelta(hours=5, minutes=30))
    assert row[0] == datetime(2026, 11, 24, 22, 41, 10, 270000, tzinfo=UTC)
    assert row[0].utcoffset() == india.utcoffset(None)
    assert row[1] == datetime(2026, 11, 24, 22, 41, 10, tzinfo=UTC)
    assert row[2] == datetime(2026, 1, 2, 3, 4, 5, 6)
    assert row[3] == "infinity"  # as pg8000 gives it


def test_a_core_unit_of_work_commits_or_rolls_back_on_a_plain_connection(engine: Engine) -> None:
    from core.db import core_transaction

    table = f"probe_{uuid.uuid4().hex[:8]}"
    _setup(engine, table)
    insert = sa.text(f"INSERT INTO {table} VALUES (:id, :label)")
    try:
        with core_transaction() as unit:
            assert isinstance(unit, sa.Connection)
            unit.execute(insert, {"id": 1, "label": "kept"})

        def failing_unit() -> None:
            with core_transaction() as unit:
                unit.execute(insert, {"id": 2, "label": "undone"})
                raise RuntimeError("the block failed")

        with pytest.raises(RuntimeError):
            failing_unit()
        with engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT id FROM {table}")).scalars().all() == [1]
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))


def test_a_core_unit_of_work_joins_redirected_sessions(db: Any) -> None:
    from sqlalchemy.orm import Session

    from core.db import core_transaction

    with core_transaction() as unit:  # the test's rolled-back transaction, through a session
        assert isinstance(unit, Session)
        assert unit.bind is db.bind
