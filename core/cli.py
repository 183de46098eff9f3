"""Operator commands.

    python -m core.cli migrate             # alembic upgrade head on the configured database
    python -m core.cli create-admin --username alice --email alice@example.com [--password-stdin]

The database is the one the service would use (DATABASE_URL, Cloud SQL or the embedded one).
create-admin asks for the password twice unless --password-stdin is given; an existing user
with that username and password is promoted instead."""

from __future__ import annotations

import argparse
import getpass
import sys

from core.errors import ConfigError, DomainError


def _migrate() -> None:
    from core.db import get_engine
    from core.db.migrate import upgrade_to_head

    upgrade_to_head(get_engine())


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        sys.exit("passwords differ")
    return first


def create_admin(username: str, email: str, password: str) -> str:
    from pydantic import ValidationError

    from core.db import transaction
    from core.services.users import create_admin as create

    _migrate()
    try:
        with transaction() as db:
            user = create(db, username=username, email=email, password=password)
            return f"{user.username} ({user.id}) is an admin"
    except ValidationError as exc:
        sys.exit("invalid input: " + "; ".join(str(e["msg"]) for e in exc.errors()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m core.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="upgrade the database schema to head")
    admin = commands.add_parser("create-admin", help="create (or promote) an admin user")
    admin.add_argument("--username", required=True)
    admin.add_argument("--email", required=True)
    admin.add_argument("--password-stdin", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "migrate":
            _migrate()
            print("database is at head")
        else:
            print(create_admin(args.username, args.email, _read_password(args.password_stdin)))
    except (ConfigError, DomainError) as exc:
        sys.exit(str(exc))


if __name__ == "__main__":
    main()
