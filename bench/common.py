"""Pieces shared by the benchmarks: a scratch database, free ports, and function processes."""

from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS_FRAMEWORK = ROOT / ".venv" / "bin" / "functions-framework"
HOST = "127.0.0.1"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new database on the server, migrated to head, dropped afterwards."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from core.db.engine import pg8000_url
    from tests.support.databases import scratch_database as tests_scratch_database

    with tests_scratch_database(pg8000_url(server_url), "bench", migrated=True) as url:
        yield url


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def function_process(
    source: Path, target: str, env: dict[str, str], *, ready_path: str = "/", threads: int = 8
) -> Iterator[int]:
    """A functions-framework process (gunicorn, 1 worker x `threads`), yielding its port once
    GET ready_path answers anything below 500."""
    port = free_port()
    environ = {**os.environ, **env, "WORKERS": "1", "THREADS": str(threads)}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environ.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [
            str(FUNCTIONS_FRAMEWORK),
            "--target",
            target,
            "--source",
            str(source),
            "--host",
            HOST,
            "--port",
            str(port),
        ],
        env=environ,
        # BENCH_VERBOSE=1 shows what the processes print (a target that fails to start)
        stdout=None if os.environ.get("BENCH_VERBOSE") else subprocess.DEVNULL,
        stderr=None if os.environ.get("BENCH_VERBOSE") else subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection(HOST, port, timeout=5)
                conn.request("GET", ready_path)
                if conn.getresponse().status < 500:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{source} did not start")
            time.sleep(0.05)
        yield port
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue


@contextlib.contextmanager
def local_server(database_url: str, **env: str) -> Iterator[Any]:
    """`python -m core.devserver` (every route group, the in-process queue) on the database, and
    a requests session of a new user once /health answers (`.base`: its URL). One user starts
    many runs at once here: its quotas and rate limit are out of the way."""
    import requests

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "core.devserver"],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "PORT": str(port),
            "ACCESS_LOG": "/dev/null",
            "LOG_LEVEL": "WARNING",
            "USER_MAX_CONCURRENT_RUNS": "100000",
            "RATE_LIMIT_PER_MINUTE": "100000000",
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://{HOST}:{port}"
    try:
        for _ in range(600):
            try:
                if requests.get(f"{base}/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        http = requests.Session()
        name, password = f"bench_{secrets.token_hex(3)}", "bench-password"
        user = {"username": name, "email": f"{name}@example.com", "password": password}
        http.post(f"{base}/auth/register", json=user)
        login = {"username": name, "password": password}
        token = http.post(f"{base}/auth/login", json=login).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        http.base = base  # type: ignore[attr-defined]
        yield http
    finally:
        server.terminate()
        server.wait(timeout=30)


def offline_agent(http: Any, model: str) -> dict[str, Any]:
    """An agent named `bench` of the offline `test` provider's `model` (test, test-echo), made
    through `local_server`'s session."""
    made = http.post(
        f"{http.base}/agents",
        json={
            "name": "bench",
            "display_name": "Bench",
            "definition": {"model": {"provider": "test", "name": model}},
        },
    )
    made.raise_for_status()
    return dict(made.json())


def bench_environment(database_url: str) -> dict[str, str]:
    """The environment every benchmarked function gets (also applied to this process, which
    seeds data through the service's own code)."""
    env = {
        "APP_ENV": "local",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
        "DATA_DIR": str(ROOT / ".data" / "bench"),
        # one bench user runs many at once: the per-user quota is not what is measured
        "USER_MAX_CONCURRENT_RUNS": "100000",
        # counted as in production, never reached (BENCH_RATE_LIMIT="" measures without it)
        "RATE_LIMIT_PER_MINUTE": os.environ.get("BENCH_RATE_LIMIT", "100000000"),
    }
    os.environ.update(env)
    return env


def bench_user_headers(username: str = "bench") -> dict[str, str]:
    """A registered user of the scratch database and the bearer header that authenticates it."""
    from core.auth.tokens import issue_token
    from core.clock import utcnow
    from core.config import get_settings, reset_settings
    from core.db import transaction
    from core.schemas.users import RegisterRequest
    from core.services.users import register

    reset_settings()
    with transaction() as db:
        user = register(
            db,
            data=RegisterRequest(
                username=username, email=f"{username}@example.com", password="bench-password"
            ),
        )
        user_id = user.id
    token, _ = issue_token(get_settings(), user_id=user_id, token_type="access", now=utcnow())
    return {"Authorization": f"Bearer {token}"}


def bench_api_key_headers(username: str = "bench") -> dict[str, str]:
    """An execute-scope API key of that (registered) user, as a bearer header."""
    from sqlalchemy import select

    from core.clock import utcnow
    from core.db import transaction
    from core.models.users import User
    from core.schemas.api_keys import ApiKeyCreate
    from core.services.api_keys import create_key

    with transaction() as db:
        user = db.scalar(select(User).where(User.username == username))
        assert user is not None
        made = create_key(
            db, user=user, data=ApiKeyCreate(name="bench", scope="execute"), now=utcnow()
        )
    return {"Authorization": f"Bearer {made['key']}"}
