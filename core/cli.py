"""Operator commands.

    python -m core.cli migrate             # alembic upgrade head on the configured database
    python -m core.cli create-admin --username alice --email alice@example.com [--password-stdin]
    python -m core.cli sweep [--url http://127.0.0.1:8080]   # drive stuck runs on, once

The database is the one the service would use (DATABASE_URL, Cloud SQL or the embedded one).
create-admin asks for the password twice unless --password-stdin is given; an existing user
with that username and password is promoted instead.

sweep does what Cloud Scheduler does every minute (and `make dev` every SWEEP_INTERVAL_S): with
Cloud Tasks configured (TASKS_QUEUE) it sweeps here; with the local dispatcher, whose queue lives
in the server's process, it asks the local server at --url (default http://127.0.0.1:$PORT) to
sweep, as Cloud Scheduler asks the tasks function."""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from core.errors import ConfigError, DomainError


def migrate() -> dict[str, int]:
    """The schema to head, then the built-in agents synced with core/agents/builtin."""
    from core.config import get_settings
    from core.db import get_engine, transaction
    from core.db.migrate import upgrade_to_head
    from core.services.builtin_agents import sync_builtin_agents

    upgrade_to_head(get_engine())
    with transaction() as db:
        return sync_builtin_agents(db, get_settings())


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

    migrate()
    try:
        with transaction() as db:
            user = create(db, username=username, email=email, password=password)
            return f"{user.username} ({user.id}) is an admin"
    except ValidationError as exc:
        sys.exit("invalid input: " + "; ".join(str(e["msg"]) for e in exc.errors()))


LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def reseal_credentials() -> dict[str, int]:
    """After a key rotation: every credential sealed again under the current key."""
    from core.config import get_settings
    from core.credentials import reseal_all
    from core.db import transaction

    with transaction() as db:
        return reseal_all(db, settings=get_settings())


def sweep(url: str | None) -> dict[str, int]:
    import os

    from core.config import get_settings

    settings = get_settings()
    if settings.tasks_queue:
        from core.runs.backends import Backends
        from core.services.worker import sweep as sweep_here

        return sweep_here(Backends(settings))
    import httpx

    from core.tasks.auth import SHARED_SECRET_HEADER, tasks_shared_secret

    base = url or f"http://127.0.0.1:{os.environ.get('PORT', '8080')}"
    if httpx.URL(base).host not in LOCAL_HOSTS:  # the shared secret goes to this server
        sys.exit(f"--url must name a local server ({', '.join(sorted(LOCAL_HOSTS))}), got {base}")
    try:
        response = httpx.post(
            base.rstrip("/") + "/tasks/sweep",
            headers={SHARED_SECRET_HEADER: tasks_shared_secret(settings)},
            timeout=60,
            trust_env=False,
        )
    except httpx.TransportError as exc:
        sys.exit(f"no local server answers at {base} ({exc}); start it with `make dev`")
    if response.status_code != 200:
        sys.exit(f"the sweep failed: HTTP {response.status_code} {response.text[:300]}")
    return dict(response.json())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m core.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "migrate", help="upgrade the database schema to head and sync the built-in agents"
    )
    admin = commands.add_parser("create-admin", help="create (or promote) an admin user")
    admin.add_argument("--username", required=True)
    admin.add_argument("--email", required=True)
    admin.add_argument("--password-stdin", action="store_true")
    commands.add_parser(
        "reseal-credentials",
        help="seal every credential again under CREDENTIALS_KEY (the old keys in "
        "CREDENTIALS_OLD_KEYS open them)",
    )
    swept = commands.add_parser("sweep", help="re-enqueue stuck runs, end abandoned ones, once")
    swept.add_argument("--url", help="the local server (default http://127.0.0.1:$PORT)")
    args = parser.parse_args(argv)
    try:
        if args.command == "migrate":
            print(json.dumps({"builtin_agents": migrate()}))
            print("database is at head")
        elif args.command == "sweep":
            print(json.dumps(sweep(args.url)))
        elif args.command == "reseal-credentials":
            print(json.dumps(reseal_credentials()))
        else:
            print(create_admin(args.username, args.email, _read_password(args.password_stdin)))
    except (ConfigError, DomainError) as exc:
        sys.exit(str(exc))


if __name__ == "__main__":
    main()
