"""StoreWorkspace: the file tools' tree over an object store prefix, confined like the local one."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic_ai import ModelRetry

from core.config import Settings
from core.storage import (
    ObjectExists,
    ObjectNotFound,
    StoredObject,
    get_artifact_store,
)
from core.storage.local_workspace import FileInfo, LocalWorkspace, Workspace
from core.storage.paths import PathRefused
from core.storage.store import LocalArtifactStore
from core.storage.workspace import StoreWorkspace, delete_workspace, workspace_for
from core.tools import file_tools

# the same refusals tests/unit/test_tool_paths.py checks for normalize_path
ESCAPES = [
    "../secret",
    "a/../../secret",
    "/etc/passwd",
    "C:/Windows",
    "a\\..\\b",
    "%2e%2e/secret",
    "a\x00b",
    "~/x",
    "a\nb",
    "\uff41/\uff0e\uff0e/x",  # fullwidth forms that NFKC folds into a/../x
]


class MemoryStore:
    """A fake of our own boundary: objects in a dict, keys taken as given (as GCS does)."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.calls = 0

    def put(
        self, key: str, data: bytes, *, content_type: str, overwrite: bool = False
    ) -> StoredObject:
        self.calls += 1
        if key in self.objects and not overwrite:
            raise ObjectExists(key)
        self.objects[key] = (data, content_type)
        return StoredObject(key, len(data), hashlib.sha256(data).hexdigest(), content_type)

    def open(self, key: str) -> Iterator[bytes]:
        return iter([self._get(key)])

    def read(self, key: str, *, max_bytes: int, offset: int = 0) -> tuple[bytes, int]:
        self.calls += 1
        data = self._get(key)
        return data[offset : offset + max_bytes], len(data)

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        self.calls += 1
        for key in sorted(self.objects):
            if key.startswith(prefix):
                yield key, len(self.objects[key][0])

    def signed_url(self, key: str, *, ttl_s: int, filename: str, content_type: str) -> None:
        return None

    def _get(self, key: str) -> bytes:
        if key not in self.objects:
            raise ObjectNotFound(key)
        return self.objects[key][0]


@pytest.fixture(params=["memory", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    return MemoryStore() if request.param == "memory" else LocalArtifactStore(tmp_path / "s")


@pytest.fixture
def ws(store: Any) -> StoreWorkspace:
    return StoreWorkspace(store, "workspaces/s1/", name="workspace", writable=True)


def test_store_workspace_satisfies_the_protocol(ws):
    typed: Workspace = ws
    assert typed.name == "workspace"
    assert typed.writable


def test_write_read_list_and_replace(ws, store):
    assert ws.write("notes/plan.md", b"# plan") == FileInfo("notes/plan.md", 6)
    assert ws.write("./notes/plan.md", b"# plan v2") == FileInfo("notes/plan.md", 9)
    assert ws.read("notes/plan.md", max_bytes=100) == (b"# plan v2", 9)
    assert ws.read("notes/plan.md", max_bytes=3, offset=2) == (b"pla", 9)
    ws.write("a.txt", b"a")
    assert list(ws.list_files()) == [FileInfo("a.txt", 1), FileInfo("notes/plan.md", 9)]
    assert list(ws.list_files("notes")) == [FileInfo("notes/plan.md", 9)]
    assert list(ws.list_files("notes/plan.md")) == [FileInfo("notes/plan.md", 9)]
    assert list(ws.list_files("nothing")) == []
    assert sorted(key for key, _ in store.list("")) == [
        "workspaces/s1/a.txt",
        "workspaces/s1/notes/plan.md",
    ]


def test_workspaces_do_not_see_each_other(store):
    one = StoreWorkspace(store, "workspaces/s1/", name="workspace", writable=True)
    two = StoreWorkspace(store, "workspaces/s10/", name="workspace", writable=True)
    one.write("f", b"1")
    two.write("g", b"2")
    assert [i.path for i in one.list_files()] == ["f"]
    with pytest.raises(FileNotFoundError):
        two.read("f", max_bytes=1)


@pytest.mark.parametrize("path", ESCAPES)
def test_no_path_escapes_the_prefix(ws, store, path):
    with pytest.raises(PathRefused):
        ws.write(path, b"x")
    with pytest.raises(PathRefused):
        ws.read(path, max_bytes=1)
    with pytest.raises(PathRefused):
        list(ws.list_files(path))
    assert list(store.list("")) == []


def test_the_root_is_not_a_file_and_missing_files_name_only_the_relative_path(ws):
    with pytest.raises(PathRefused):
        ws.write("", b"x")
    with pytest.raises(FileNotFoundError) as caught:
        ws.read("missing/file.txt", max_bytes=1)
    assert str(caught.value) == "no such file in the workspace: missing/file.txt"
    assert "workspaces/" not in str(caught.value)


def test_the_tree_stays_a_tree(ws):
    ws.write("dir/file", b"x")
    with pytest.raises(PathRefused, match="is a directory"):
        ws.write("dir", b"y")
    with pytest.raises(PathRefused, match="dir/file is a regular file"):
        ws.write("dir/file/below", b"z")
    assert [i.path for i in ws.list_files()] == ["dir/file"]


def test_read_only_workspace_refuses_writes(store):
    ws = StoreWorkspace(store, "workspaces/ro/", name="repo", writable=False)
    with pytest.raises(PathRefused, match="read-only"):
        ws.write("a", b"x")


def test_keys_longer_than_cloud_storage_allows_are_refused(ws):
    deep = "/".join(["d" * 204] * 5)  # 1024 bytes: a valid path, too long under the prefix
    with pytest.raises(PathRefused, match="too long"):
        ws.write(deep, b"x")


def test_a_prefix_must_name_a_directory():
    with pytest.raises(ValueError, match="ends with"):
        StoreWorkspace(MemoryStore(), "workspaces/s1", name="workspace", writable=True)


def test_keys_no_tool_could_name_are_left_out_of_listings():
    store = MemoryStore()
    for key in ["ws/ok.txt", "ws/a//b", "ws/dir/", "ws/x/../y", "ws/%2e%2e"]:
        store.objects[key] = (b"x", "text/plain")
    ws = StoreWorkspace(store, "ws/", name="workspace", writable=True)
    assert [i.path for i in ws.list_files()] == ["ok.txt"]


def test_written_files_get_a_content_type():
    store = MemoryStore()
    ws = StoreWorkspace(store, "ws/", name="workspace", writable=True)
    ws.write("page.html", b"<p>hi</p>")
    ws.write("blob", b"\x00\x01")
    assert store.objects["ws/page.html"][1] == "text/html"
    assert store.objects["ws/blob"][1] == "application/octet-stream"


@dataclass
class Deps:
    workspace: Workspace
    repo: Workspace | None = None


def test_file_tools_work_through_a_store_workspace(ws):
    ctx: Any = SimpleNamespace(deps=Deps(ws))
    assert file_tools.file_write(ctx, "src/app.py", "def main():\n    return 1\n") == (
        "wrote 25 bytes to src/app.py"
    )
    file_tools.file_write(ctx, "README.md", "# app\nrun main\n")
    assert file_tools.file_read(ctx, "src/app.py") == "def main():\n    return 1\n"
    assert file_tools.find(ctx, "*.py") == "src/app.py"
    assert file_tools.grep(ctx, r"main").splitlines()[:2] == [
        "README.md:2: run main",
        "src/app.py:1: def main():",
    ]
    with pytest.raises(ModelRetry, match=r"no such file in the workspace: nope\.txt"):
        file_tools.file_read(ctx, "nope.txt")
    with pytest.raises(ModelRetry, match=r"'\.\.' is not allowed"):
        file_tools.file_write(ctx, "../escape.txt", "x")


def test_workspace_for_a_local_deployment_is_a_directory_per_session_or_run(tmp_path):
    settings = Settings(workspace_dir=tmp_path)
    session_id, execution_id = uuid.uuid4(), uuid.uuid4()
    ws = workspace_for(
        settings, get_artifact_store(settings), session_id=session_id, execution_id=execution_id
    )
    assert isinstance(ws, LocalWorkspace)
    ws.write("f.txt", b"x")
    assert (tmp_path / "sessions" / str(session_id) / "f.txt").read_bytes() == b"x"
    alone = workspace_for(
        settings, get_artifact_store(settings), session_id=None, execution_id=execution_id
    )
    alone.write("g.txt", b"y")
    assert (tmp_path / "executions" / str(execution_id) / "g.txt").read_bytes() == b"y"
    delete_workspace(settings, get_artifact_store(settings), session_id=session_id)
    assert not (tmp_path / "sessions" / str(session_id)).exists()
    delete_workspace(
        settings, get_artifact_store(settings), session_id=None, execution_id=execution_id
    )
    assert not (tmp_path / "executions" / str(execution_id)).exists()
    with pytest.raises(ValueError, match="name a session"):
        delete_workspace(settings, get_artifact_store(settings), session_id=None)


def test_workspace_for_a_bucket_deployment_is_a_prefix_of_the_store():
    store = MemoryStore()
    settings = Settings(artifacts_bucket="bucket")
    session_id, execution_id = uuid.uuid4(), uuid.uuid4()
    ws = workspace_for(settings, store, session_id=session_id, execution_id=execution_id)
    assert isinstance(ws, StoreWorkspace)
    assert ws.prefix == f"workspaces/{session_id}/"
    ws.write("f.txt", b"x")
    alone = workspace_for(settings, store, session_id=None, execution_id=execution_id)
    assert isinstance(alone, StoreWorkspace)
    assert alone.prefix == f"workspaces/executions/{execution_id}/"
    delete_workspace(settings, store, session_id=session_id)
    assert store.objects == {}
