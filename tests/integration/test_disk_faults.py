"""A full or read-only disk, for real: the artifact store and the workspaces on a small tmpfs
this test mounts (as root; CI is root). An upload answers 507 `storage_full` or 503
`storage_read_only` and leaves nothing behind (no object, no row, no workspace copy, no staging
file); a run whose files cannot be recorded ends `failed` with a code naming the cause, sync or
async (never `internal_error`, never `too_many_attempts`)."""

from __future__ import annotations

import io
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.models.function import FunctionModel
from sqlalchemy import func, select

from core.config import reset_settings
from core.models.sessions import Artifact
from core.storage.store import LocalArtifactStore
from tests.integration.test_artifacts_api import new_session
from tests.integration.test_execution_runs import call, text
from tests.support.agents import create_agent, definition, tools
from tests.support.api import assert_error, signed_up
from tests.support.backends import answering
from tests.support.report import report

DISK_BYTES = 512 * 1024


class Disk:
    def __init__(self, root: Path) -> None:
        self.root = root

    def fill(self, leave_bytes: int = 4096) -> None:
        """Take the space there is, but `leave_bytes`."""
        stats = os.statvfs(self.root)
        free = stats.f_bavail * stats.f_frsize
        with open(self.root / "filler", "wb") as filler:
            filler.write(b"\0" * max(0, free - leave_bytes))

    def read_only(self) -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(self.root)], check=True)

    def files(self) -> list[str]:
        return sorted(
            str(path.relative_to(self.root))
            for path in self.root.rglob("*")
            if path.is_file() and path.name != "filler"
        )


@pytest.fixture
def disk(mounted: Disk, artifact_store: LocalArtifactStore) -> Disk:
    """A small tmpfs holding the app's artifacts and workspaces."""
    return mounted


@pytest.fixture
def artifact_store(mounted: Disk) -> LocalArtifactStore:
    return LocalArtifactStore(mounted.root / "artifacts")


@pytest.fixture
def mounted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    root = tmp_path / "disk"
    root.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(root)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs (CI runs as root): {mounted.stderr}")
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        (root / "artifacts").mkdir()
        (root / "workspaces").mkdir()
        monkeypatch.setenv("WORKSPACE_DIR", str(root / "workspaces"))
        reset_settings()
        yield Disk(root)
    finally:
        reset_settings()
        subprocess.run(["umount", "-l", str(root)], check=False)


def upload(client: Any, headers: dict[str, str], session_id: str, data: bytes) -> Any:
    return client.post(
        "/artifacts",
        headers=headers,
        data={"session_id": session_id, "file": (io.BytesIO(data), "notes.txt")},
        content_type="multipart/form-data",
    )


def artifacts_of(db: Any, session_id: str) -> int:
    return int(db.scalar(select(func.count()).where(Artifact.session_id == uuid.UUID(session_id))))


def test_an_upload_to_a_full_disk_is_507_and_leaves_nothing(client, db, disk: Disk) -> None:
    user, headers = signed_up(client)
    session_id = new_session(db, client, headers, user)
    disk.fill(leave_bytes=8192)
    error = assert_error(upload(client, headers, session_id, b"x" * 64 * 1024), 507, "storage_full")
    assert "full" in error["message"]
    assert "/" + disk.root.name not in error["message"]
    assert (artifacts_of(db, session_id), disk.files()) == (0, [])
    report(
        "disk faults", f"upload to a full disk: 507 {error['code']}; left on disk: {disk.files()}"
    )


def test_an_upload_to_a_read_only_disk_is_503_and_leaves_nothing(client, db, disk: Disk) -> None:
    user, headers = signed_up(client)
    session_id = new_session(db, client, headers, user)
    disk.read_only()
    answer = upload(client, headers, session_id, b"hello")
    error = assert_error(answer, 503, "storage_read_only")
    assert answer.headers["Retry-After"] == "30"
    assert (artifacts_of(db, session_id), disk.files()) == (0, [])
    report(
        "disk faults",
        f"upload to a read-only disk: 503 {error['code']} (Retry-After 30); "
        f"left on disk: {disk.files()}",
    )


def writer_model() -> FunctionModel:
    steps = [call("file_write", {"path": "report.txt", "content": "r" * 20_000}), text("done")]
    return FunctionModel(lambda messages, info: steps[min(len(messages) // 2, 1)])


def test_a_run_whose_files_cannot_be_recorded_fails_saying_why(
    client, db, disk: Disk, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The agent writes its file (the workspace has room), the artifact store's disk is full:
    the run ends failed `artifact_storage_full`, its answer and events kept."""
    monkeypatch.setenv("WORKSPACE_DIR", str(tmp_path / "roomy"))
    reset_settings()
    _, headers = signed_up(client)
    agent = create_agent(client, headers, definition=definition(tools=tools("file_write")))
    disk.fill(leave_bytes=4096)
    with answering(client, writer_model()):
        ran = client.post(f"/agents/{agent['id']}/execute", headers=headers, json={"input": "go"})
    assert ran.status_code == 200
    execution = ran.get_json()
    assert execution["status"] == "failed", execution
    assert execution["error"]["code"] == "artifact_storage_full"
    assert execution["output"] == "done"
    assert disk.files() == []
    report("disk faults", f"sync run writing a file to a full store: failed {execution['error']}")


def test_an_async_run_whose_files_cannot_be_recorded_fails_at_once_saying_why(
    client, db, disk: Disk, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, queue, worker_headers
) -> None:
    monkeypatch.setenv("WORKSPACE_DIR", str(tmp_path / "roomy"))
    reset_settings()
    _, headers = signed_up(client)
    agent = create_agent(client, headers, definition=definition(tools=tools("file_write")))
    disk.read_only()
    started = client.post(
        f"/agents/{agent['id']}/execute", headers=headers, json={"input": "go", "mode": "async"}
    ).get_json()
    [task] = [t for t in queue.tasks if t.path.startswith("/tasks/executions/")]
    with answering(client, writer_model()):
        assert client.post(task.path, headers=worker_headers).status_code == 200
    execution = client.get(f"/executions/{started['id']}", headers=headers).get_json()
    assert (execution["status"], execution["error"]["code"]) == (
        "failed",
        "artifact_storage_read_only",
    )
    report("disk faults", f"async run, read-only store: failed {execution['error']['code']}")
