"""scripts/grant_db_access.py on real PostgreSQL: the functions' users can read and write every
table, including tables later migrations create, and cannot change the schema. Everything runs in
one transaction that is rolled back (roles too: CREATE ROLE is transactional)."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ProgrammingError

from tests.support.terraform import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import grant_db_access

sys.path.remove(str(ROOT / "scripts"))


@pytest.fixture
def connection(database_url: str) -> Iterator[Connection]:
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            yield conn
        finally:
            transaction.rollback()
    engine.dispose()


def _fails(conn: Connection, statement: str) -> bool:
    try:
        with conn.begin_nested():
            conn.execute(sa.text(statement))
    except ProgrammingError as exc:
        return "permission denied" in str(exc) or "must be owner" in str(exc)
    return False


def test_function_users_get_dml_on_every_table_now_and_later(connection: Connection) -> None:
    suffix = secrets.token_hex(4)
    user, role = f"fn_user_{suffix}", f"agents_app_{suffix}"
    database = connection.exec_driver_sql("SELECT current_database()").scalar_one()
    connection.execute(sa.text(f'CREATE ROLE "{user}" NOLOGIN'))
    for _ in range(2):  # idempotent: every deploy runs it again
        grant_db_access.apply(connection, database, [user], app_role=role, pgaudit=False)
    connection.execute(sa.text("CREATE TABLE later_migration (id int primary key)"))

    connection.execute(sa.text(f'SET ROLE "{user}"'))
    assert connection.execute(sa.text("SELECT count(*) FROM users")).scalar_one() >= 0
    assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    connection.execute(sa.text("INSERT INTO later_migration VALUES (1)"))
    connection.execute(sa.text("UPDATE later_migration SET id = 2"))
    connection.execute(sa.text("DELETE FROM later_migration"))
    # only the migrations change the schema
    assert _fails(connection, "CREATE TABLE sneaky (id int)")
    assert _fails(connection, "DROP TABLE later_migration")
    assert _fails(connection, "ALTER TABLE users ADD COLUMN sneaky int")
    assert _fails(connection, "TRUNCATE later_migration")
    connection.execute(sa.text("RESET ROLE"))


def test_only_cloud_sql_service_account_users_are_accepted() -> None:
    assert grant_db_access.check_users(["agents-auth@my-project.iam"]) == [
        "agents-auth@my-project.iam"
    ]
    for bad in (
        "agents-auth@my-project.iam.gserviceaccount.com",  # the email, not the database user
        'x"; DROP TABLE users; --',
        "postgres",
    ):
        with pytest.raises(SystemExit):
            grant_db_access.check_users([bad])


def test_identifiers_are_quoted() -> None:
    statements = grant_db_access.grant_statements("agents", ["agents-auth@p.iam"])
    assert 'GRANT "agents_app" TO "agents-auth@p.iam"' in statements
    assert statements[-1] == "CREATE EXTENSION IF NOT EXISTS pgaudit"
    with pytest.raises(ValueError, match="role name"):
        grant_db_access.grant_statements("agents", [], app_role='x"; --')
