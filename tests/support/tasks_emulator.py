"""gcloud-tasks-emulator for the tests, plus a recording HTTP receiver for what tasks deliver.

The emulator (0.6.2) pins protobuf < 5, which would downgrade the app's google-cloud-tasks, so it
lives in its own virtualenv under .data/tasks-emulator-venv, created on first use (uv when it is
next to the interpreter: about 3 s, cached after; else venv + pip) behind a file lock so parallel
runs do not race. A marker file records what was installed; delete the folder to rebuild it.

What the emulator does (0.6.2): it POSTs HTTP tasks to their URL for real, one at a time per
queue, every ~0.1 s; ignores retry settings (`--max-retries` caps attempts); does not deduplicate
task names; sends no OIDC token; has no get/delete_task. It binds every interface whatever host
it is given, so `_LAUNCHER` patches grpc to bind 127.0.0.1 only.

`Receiver` is a stdlib ThreadingHTTPServer on 127.0.0.1 that records every request and answers
with a scripted response (also used by the webhook tests).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from requests.structures import CaseInsensitiveDict

from tests.support.venvs import tool_python

ROOT = Path(__file__).resolve().parents[2]
EMULATOR_REQUIREMENT = "gcloud-tasks-emulator==0.6.2"
VENV = ROOT / ".data" / "tasks-emulator-venv"
QUEUE = "projects/test-project/locations/us-central1/queues/agents"

_LAUNCHER = """
import sys, grpc
_server = grpc.server
def _loopback_server(*args, **kwargs):
    server = _server(*args, **kwargs)
    add = server.add_insecure_port
    server.add_insecure_port = lambda address: add(address.replace("[::]", "127.0.0.1"))
    return server
grpc.server = _loopback_server
from gcloud_tasks_emulator.__main__ import main
sys.argv[0] = "gcloud-tasks-emulator"
main()
"""


def emulator_python() -> Path:
    """The emulator venv's interpreter, creating the venv once."""
    return tool_python(VENV, EMULATOR_REQUIREMENT)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class TasksEmulator:
    host: str  # 127.0.0.1:PORT, for TASKS_EMULATOR_HOST
    queue: str  # a queue that exists, for TASKS_QUEUE


def start_emulator(
    log_path: Path, *, max_retries: int = 3
) -> tuple[subprocess.Popen[bytes], TasksEmulator]:
    python = emulator_python()
    port = free_port()
    log = open(log_path, "wb")  # noqa: SIM115  (kept open for the process's life)
    process = subprocess.Popen(
        [
            python,
            "-c",
            _LAUNCHER,
            "start",
            "--port",
            str(port),
            "--quiet",
            "--default-queue",
            QUEUE,
            "--max-retries",
            str(max_retries),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the tasks emulator exited:\n{log_path.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, TasksEmulator(host=f"127.0.0.1:{port}", queue=QUEUE)
        except OSError:
            time.sleep(0.05)
    stop_emulator(process)
    raise RuntimeError(f"the tasks emulator did not listen in 30 s:\n{log_path.read_text()}")


def stop_emulator(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def tasks_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TasksEmulator]:
    """One emulator for the whole run, with `QUEUE` created; killed at the end."""
    process, emulator = start_emulator(tmp_path_factory.mktemp("tasks-emulator") / "log")
    yield emulator
    stop_emulator(process)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: CaseInsensitiveDict[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Reply = tuple[int, dict[str, str], bytes]
Responder = Callable[[Recorded], Reply]


def ok(_request: Recorded) -> Reply:
    return 200, {}, b"ok"


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a timed-out or refused delivery) is part of the test."""


@dataclass
class Receiver:
    """Records requests; answers each with `respond(request)` (200 by default)."""

    respond: Responder = ok
    bind_port: int = 0  # 0: any free port
    tls: ssl.SSLContext | None = None  # serve https with this server-side context
    requests: list[Recorded] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                recorded = Recorded(
                    method="POST",
                    path=self.path,
                    headers=CaseInsensitiveDict(dict(self.headers.items())),
                    body=self.rfile.read(length),
                )
                status, headers, body = receiver.respond(recorded)
                with receiver._cond:
                    receiver.requests.append(recorded)
                    receiver._cond.notify_all()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = QuietServer(("127.0.0.1", self.bind_port), Handler)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count: int, timeout: float = 10) -> list[Recorded]:
        """The first `count` requests, waiting for them to arrive."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected {count} requests in {timeout} s, got {len(self.requests)}"
                    )
                self._cond.wait(remaining)
            return list(self.requests[:count])
