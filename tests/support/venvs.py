"""Tools the tests run that cannot share the app's environment (their pins would change the
lock): each gets a virtualenv of its own under .data/, built once (uv when present, else pip),
guarded by a file lock so parallel test processes build it only once."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from pathlib import Path


def tool_python(venv: Path, requirement: str) -> Path:
    """The interpreter of `venv` with `requirement` installed, creating it on first use."""
    python = venv / "bin" / "python"
    marker = venv / ".installed"

    def ready() -> bool:
        return marker.exists() and marker.read_text() == requirement and python.exists()

    if ready():
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready():
            return python
        shutil.rmtree(venv, ignore_errors=True)
        uv = Path(sys.executable).parent / "uv"
        try:
            if uv.exists():
                _run(uv, "venv", "-q", "--python", sys.executable, venv)
                _run(uv, "pip", "install", "-q", "--python", python, requirement)
            else:
                _run(sys.executable, "-m", "venv", venv)
                _run(python, "-m", "pip", "install", "-q", requirement)
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(venv, ignore_errors=True)
            raise RuntimeError(f"could not install {requirement}:\n{exc.stderr}") from exc
        marker.write_text(requirement)
    return python


def _run(*command: str | Path) -> None:
    subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
