"""A real local server process (python -m core.devserver) per test session."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.databases import scratch_database

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


BODY_TIMEOUT_S = 2


def logged_popen(command: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    """A server process whose output goes to a file (`process.log`), never a pipe nobody reads
    while it runs: a full pipe blocks every thread that logs (a burst of tracebacks during a
    database outage did exactly that)."""
    log = Path(tempfile.mkstemp(prefix="agents-server-", suffix=".log")[1])
    with log.open("w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, text=True, **kwargs
        )
    process.log = log  # type: ignore[attr-defined]
    return process


def output_of(process: subprocess.Popen[str]) -> str:
    log = getattr(process, "log", None)
    return log.read_text(errors="replace") if log is not None and log.exists() else ""


def start_server(
    env: dict[str, str], port: int, unset: tuple[str, ...] = ()
) -> subprocess.Popen[str]:
    merged = {k: v for k, v in os.environ.items() if k not in unset}
    process = logged_popen(
        [sys.executable, "-m", "core.devserver"],
        cwd=ROOT,
        # one test user runs many at once here; quotas are tested in tests/integration
        env={
            **merged,
            "USER_MAX_CONCURRENT_RUNS": "100000",
            "RATE_LIMIT_PER_MINUTE": "1000000",  # counted (and its fields sent), never reached
            **env,
            "PORT": str(port),
            "ACCESS_LOG": "/dev/null",
        },
        start_new_session=True,
    )
    return serving(process, port, wait_s=60)


def serving(process: subprocess.Popen[str], port: int, *, wait_s: float) -> subprocess.Popen[str]:
    """`process` once it answers /health on `port`; its process group is killed if it does not
    within `wait_s`."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {output_of(process)}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except requests.ConnectionError:
            time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError(f"server did not start in {wait_s:g} s")


def stop_server(process: subprocess.Popen[str], timeout: float = 30) -> str:
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise AssertionError(f"server ignored Ctrl-C:\n{output_of(process)}") from None
    return output_of(process)


@pytest.fixture(scope="package")
def database_url(database_url: str) -> Iterator[str]:
    """This package's own database, beside the suite's. Its servers commit for real and sweep
    it as `make dev` does; what they leave (runs still queued, schedules that come due later)
    must not act in the integration tests, which sweep, fire schedules and deliver tasks
    themselves on the suite's database."""
    with scratch_database(database_url, "agents_e2e_package", migrated=True) as url:
        yield url


@pytest.fixture(scope="package")
def base_url(database_url: str) -> Iterator[str]:
    port = free_port()
    process = start_server(
        {
            "DATABASE_URL": database_url,
            "REQUEST_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
            "A2A_ALLOWED_HOSTS": "127.0.0.1",  # its agents may call another instance's here
            # the fuzzer starts evals: each a few runs, not thousands, beside the other tests
            "EVAL_MAX_RUNS": "5",
        },
        port,
    )
    yield f"http://127.0.0.1:{port}"
    stop_server(process)


@pytest.fixture
def http(base_url: str) -> Any:
    session = requests.Session()

    class Http:
        url = base_url

        def __getattr__(self, method: str) -> Any:
            def call(path: str, **kwargs: Any) -> requests.Response:
                kwargs.setdefault("timeout", 30)
                return session.request(method.upper(), base_url + path, **kwargs)

            return call

    yield Http()
    session.close()


@pytest.fixture
def fresh_database_url(database_url: str) -> Iterator[str]:
    """A database of its own on the test server, empty: a server started on it migrates it, as
    `make dev` does. Dropped after the test."""
    with scratch_database(database_url, "agents_e2e", migrated=False) as url:
        yield url
