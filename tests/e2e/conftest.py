"""A real local server process (python -m core.devserver) per test session."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


BODY_TIMEOUT_S = 2


def start_server(
    env: dict[str, str], port: int, unset: tuple[str, ...] = ()
) -> subprocess.Popen[str]:
    merged = {k: v for k, v in os.environ.items() if k not in unset}
    process = subprocess.Popen(
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
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    return serving(process, port, wait_s=60)


def serving(process: subprocess.Popen[str], port: int, *, wait_s: float) -> subprocess.Popen[str]:
    """`process` once it answers /health on `port`; its process group is killed if it does not
    within `wait_s`."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stdout.read() if process.stdout else ''}")
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
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        raise AssertionError(f"server ignored Ctrl-C:\n{out}") from None
    return out


@pytest.fixture(scope="session")
def base_url(database_url: str) -> Iterator[str]:
    port = free_port()
    process = start_server(
        {"DATABASE_URL": database_url, "REQUEST_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S)}, port
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
