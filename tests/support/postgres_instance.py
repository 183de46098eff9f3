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
    tls: bool = False  # ssl=on, and only TLS connections accepted (as Cloud SQL's connector)

    @property
    def url(self) -> str:
        mode = "?sslmode=require" if self.tls else ""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres{mode}"

    def start(self) -> None:
        options = f"-p {self.port} -h 127.0.0.1 -k {self.data.parent} -c max_connections=200"
        if self.tls:
            options += " -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.data.parent / "log"), "-o", options)

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
        run(
            ["pg_ctl", "-D", str(self.data), *args], self.user, tls_binaries() if self.tls else None
        )


def _pgserver() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import pgserver._commands
        import pgserver.utils

    return pgserver


def tls_binaries() -> Path | None:
    """A PostgreSQL build with TLS (the embedded pgserver's has none): the machine's, from
    Debian's packages (what .ci/run's machines have)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


def run(command: list[str], user: str | None, binaries: Path | None = None) -> None:
    directory = binaries or _pgserver()._commands.POSTGRES_BIN_PATH
    full = [str(directory / command[0]), *command[1:]]
    kwargs: dict[str, Any] = {"user": user} if user else {}
    subprocess.run(full, check=True, capture_output=True, text=True, timeout=120, **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _self_signed(data: Path, owner: tuple[int, int] | None) -> None:
    """server.crt and server.key for 127.0.0.1, and an pg_hba.conf that admits TLS only."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (data / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (data / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (data / "pg_hba.conf").write_text(
        "local all all trust\n"
        "hostssl all all 127.0.0.1/32 trust\n"
        "hostnossl all all 0.0.0.0/0 reject\n"
    )
    for name_ in ("server.crt", "server.key", "pg_hba.conf"):
        path = data / name_
        path.chmod(0o600)
        if owner is not None:
            os.chown(path, *owner)


@contextmanager
def postgres_instance(*, tls: bool = False) -> Iterator[PostgresInstance]:
    """A new cluster, started; stopped and removed afterwards. `tls`: it speaks TLS only."""
    user = None
    home = Path(tempfile.mkdtemp(prefix="agents-pg-"))
    home.chmod(0o755)
    data = home / "data"
    data.mkdir()
    owner = None
    if os.geteuid() == 0:
        import pwd

        _pgserver().utils.ensure_user_exists(SYSTEM_USER)
        entry = pwd.getpwnam(SYSTEM_USER)
        owner = (entry.pw_uid, entry.pw_gid)
        for path in (home, data):
            os.chown(path, *owner)
        user = SYSTEM_USER
    binaries = None
    if tls:
        binaries = tls_binaries()
        if binaries is None:
            raise RuntimeError("no PostgreSQL with TLS on this machine (/usr/lib/postgresql)")
    run(["initdb", "-D", str(data), "--auth=trust", "-U", "postgres", "-E", "utf8"], user, binaries)
    if tls:
        _self_signed(data, owner)
    instance = PostgresInstance(data, free_port(), user, tls)
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
