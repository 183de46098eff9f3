"""A PostgreSQL server of a test's own, on a TCP port of 127.0.0.1, that the test may stop and
start again (a database outage, as production meets it) without touching the suite's server.

Built from the embedded pgserver's binaries (pip `pgserver`, already a dependency). As root the
server runs as the `pgserver` system user, the way pgserver itself does it."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SYSTEM_USER = "pgserver"


@dataclass
class PostgresInstance:
    data: Path
    port: int
    user: str | None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self._pg_ctl(
            "start",
            "-w",
            "-t",
            "60",
            "-l",
            str(self.data.parent / "log"),
            "-o",
            f"-p {self.port} -h 127.0.0.1 -k {self.data.parent} -c max_connections=200",
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast`: clients are disconnected and the server shuts down (what a failover or a
        maintenance restart does); `immediate`: it dies at once."""
        self._pg_ctl("stop", "-w", "-t", "60", "-m", mode)

    def accepting(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _pg_ctl(self, *args: str) -> None:
        run(["pg_ctl", "-D", str(self.data), *args], self.user)


def _pgserver() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import pgserver._commands
        import pgserver.utils

    return pgserver


def run(command: list[str], user: str | None) -> None:
    full = [str(_pgserver()._commands.POSTGRES_BIN_PATH / command[0]), *command[1:]]
    kwargs: dict[str, Any] = {"user": user} if user else {}
    subprocess.run(full, check=True, capture_output=True, text=True, timeout=120, **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_instance() -> Iterator[PostgresInstance]:
    """A new cluster, started; stopped and removed afterwards."""
    user = None
    home = Path(tempfile.mkdtemp(prefix="agents-pg-"))
    home.chmod(0o755)
    data = home / "data"
    data.mkdir()
    if os.geteuid() == 0:
        import pwd

        _pgserver().utils.ensure_user_exists(SYSTEM_USER)
        entry = pwd.getpwnam(SYSTEM_USER)
        for path in (home, data):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        user = SYSTEM_USER
    run(["initdb", "-D", str(data), "--auth=trust", "-U", "postgres", "-E", "utf8"], user)
    instance = PostgresInstance(data, free_port(), user)
    instance.start()
    try:
        yield instance
    finally:
        if instance.accepting():
            with contextlib.suppress(subprocess.CalledProcessError):
                instance.stop("immediate")
        deadline = time.monotonic() + 10
        while instance.accepting() and time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.rmtree(home, ignore_errors=True)
