"""A real Cloud Storage emulator (gcp-storage-emulator) for the tests, one per test run.

`gcs_emulator()` starts it on a free loopback port in a subprocess and returns a handle; the
process is stopped at exit. The emulator comes from the dev dependencies; on a machine where it
is not importable, a virtualenv under .data/ is created for it on first use.

One gap is closed here: the emulator ignores `ifGenerationMatch`, which Cloud Storage uses to
create an object only if its name is free (412 conditionNotMet otherwise). Run as a script, this
module starts the emulator with that precondition added to object inserts, so the service's
create-once writes are exercised against a server that enforces them, as GCS does.

Run as a script it imports only the standard library and the emulator (its own virtualenv need
not hold the project's dependencies)."""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EMULATOR_VERSION = "2026.7.19"
OWN_VENV = ROOT / ".data" / "gcs-emulator-venv"
START_TIMEOUT_S = 30.0


@dataclass
class GcsEmulator:
    endpoint: str  # http://127.0.0.1:PORT
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self, project: str = "test") -> Any:
        """An anonymous google-cloud-storage client talking to the emulator."""
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project=project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=self.endpoint),
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(name)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_path.unlink(missing_ok=True)


_lock = threading.Lock()
_running: GcsEmulator | None = None


def gcs_emulator() -> GcsEmulator:
    """The emulator of this test run, started on first use."""
    global _running
    with _lock:
        if _running is None or _running.process.poll() is not None:
            _running = _start()
            atexit.register(_running.stop)
        return _running


def _start() -> GcsEmulator:
    port = _free_port()
    fd, name = tempfile.mkstemp(prefix="gcs-emulator-", suffix=".log")
    log_path = Path(name)
    with os.fdopen(fd, "wb") as log:
        process = subprocess.Popen(
            [_emulator_python(), str(Path(__file__).resolve()), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    emulator = GcsEmulator(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gcs emulator exited: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{emulator.endpoint}/storage/v1/b?project=t", timeout=1):
                return emulator
        except OSError:
            time.sleep(0.05)
    emulator.stop()
    raise RuntimeError(f"gcs emulator did not answer in {START_TIMEOUT_S} s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _emulator_python() -> str:
    """This interpreter when it has the emulator (the dev extra), else a virtualenv of its own
    under .data/, created and filled on first use."""
    if importlib.util.find_spec("gcp_storage_emulator") is not None:
        return sys.executable
    python = OWN_VENV / "bin" / "python"
    probe = [str(python), "-c", "import gcp_storage_emulator"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return str(python)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(OWN_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"gcp-storage-emulator=={EMULATOR_VERSION}"],
        check=True,
    )
    return str(python)


# --- run as a script: the emulator with generation preconditions on inserts -----------------


def _object_name(request: Any) -> str | None:
    if "name" in request.query:
        return str(request.query["name"][0])
    data = request.data
    if isinstance(data, dict):
        meta = data.get("meta", data)  # multipart: {"meta": {...}}, resumable: {...}
        if isinstance(meta, dict) and meta.get("name"):
            return str(meta["name"])
    return None


def _serve(host: str, port: int) -> None:
    from gcp_storage_emulator.exceptions import NotFound
    from gcp_storage_emulator.handlers import objects

    original_insert = objects.insert

    def insert(request: Any, response: Any, storage: Any, *args: Any, **kwargs: Any) -> Any:
        wanted = request.query.get("ifGenerationMatch")
        name = _object_name(request)
        if wanted and name is not None and "upload_id" not in request.query:
            try:
                current = str(
                    storage.get_file_obj(request.params["bucket_name"], name)["generation"]
                )
            except NotFound:
                current = "0"
            if str(wanted[0]) != current:
                message = "At least one of the pre-conditions you specified did not hold."
                response.status = HTTPStatus.PRECONDITION_FAILED
                response.json(
                    {
                        "error": {
                            "code": 412,
                            "message": message,
                            "errors": [
                                {
                                    "domain": "global",
                                    "reason": "conditionNotMet",
                                    "message": message,
                                }
                            ],
                        }
                    }
                )
                return None
        return original_insert(request, response, storage, *args, **kwargs)

    # before the server module builds its routing table from these handlers
    objects.insert = insert
    from gcp_storage_emulator.server import create_server

    create_server(host, port, in_memory=True).run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    _serve(arguments.host, arguments.port)
