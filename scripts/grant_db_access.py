"""Give the functions' IAM database users their table privileges (run after the migrations).

    python scripts/grant_db_access.py --user agents-auth@PROJECT.iam --user ...
    terraform -chdir=terraform output -json function_db_users | \
        python scripts/grant_db_access.py --users-json -

It connects like the service does (INSTANCE_CONNECTION_NAME, DB_USER, DB_IAM_AUTH... or
DATABASE_URL), as the deployer that ran the migrations and so owns the tables, and in one
transaction, every statement idempotent:

- creates the NOLOGIN role `agents_app` once and gives it USAGE on the schema and SELECT,
  INSERT, UPDATE, DELETE on every table (and the sequences), now and, through default
  privileges, on the tables later migrations create;
- grants `agents_app` to each function's user. They cannot create, alter or drop anything: only
  the migrations change the schema;
- loads the pgaudit extension that the instance's `cloudsql.enable_pgaudit` flag allows
  (`--no-pgaudit` where the server has none, as in tests).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
APP_ROLE = "agents_app"
# Cloud SQL's name for a service account's IAM user: its email without .gserviceaccount.com
_IAM_USER = re.compile(r"[a-z][a-z0-9-]{4,29}@[a-z0-9][a-z0-9.:-]*\.iam")
_ROLE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def grant_statements(
    database: str, users: Sequence[str], *, app_role: str = APP_ROLE, pgaudit: bool = True
) -> list[str]:
    if not _ROLE.fullmatch(app_role):
        raise ValueError(f"not a plain role name: {app_role!r}")
    role = quote(app_role)
    statements = [
        f"""DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{app_role}') THEN
                CREATE ROLE {role} NOLOGIN;
            END IF;
        END $$""",
        f"GRANT CONNECT, TEMPORARY ON DATABASE {quote(database)} TO {role}",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {role}",
    ]
    statements += [f"GRANT {role} TO {quote(user)}" for user in users]
    if pgaudit:
        statements.append("CREATE EXTENSION IF NOT EXISTS pgaudit")
    return statements


def check_users(users: Sequence[str]) -> list[str]:
    bad = [u for u in users if not _IAM_USER.fullmatch(u)]
    if bad:
        raise SystemExit(
            f"not Cloud SQL IAM service-account users (name@project.iam): {bad}; "
            "pass the function_db_users output of terraform"
        )
    return list(users)


def apply(connection: Any, database: str, users: Sequence[str], **options: Any) -> None:
    """Run the grants on a SQLAlchemy connection, inside the caller's transaction."""
    from sqlalchemy import text

    for statement in grant_statements(database, users, **options):
        connection.execute(text(statement))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--user", action="append", default=[], help="an IAM database user")
    parser.add_argument(
        "--users-json", type=argparse.FileType(), help="a JSON list of users ('-': stdin)"
    )
    parser.add_argument("--no-pgaudit", action="store_true", help="do not load pgaudit")
    args = parser.parse_args(argv)
    users = list(args.user) + (json.load(args.users_json) if args.users_json else [])
    if not users:
        parser.error("no users: give --user or --users-json")

    sys.path.insert(0, str(ROOT))
    from core.db import get_engine

    engine = get_engine()
    with engine.begin() as connection:
        database = connection.exec_driver_sql("SELECT current_database()").scalar_one()
        apply(connection, database, check_users(users), pgaudit=not args.no_pgaudit)
    print(f"{APP_ROLE} granted to {len(users)} users on {database}")


if __name__ == "__main__":
    main()
