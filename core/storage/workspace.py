"""Workspaces over the artifact store, and the choice of a run's workspace.

In production a session's files live in the bucket under `workspaces/<session_id>/` (a run
without a session: `workspaces/executions/<execution_id>/`), so any instance that serves the
session sees them; locally they are WORKSPACE_DIR/sessions/<session_id> (or
WORKSPACE_DIR/executions/<execution_id>). Workspace files are the only
objects replaced in place (`file_write` replaces a file); artifacts are written once."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from core.storage.local_workspace import FileInfo, LocalWorkspace, Workspace
from core.storage.media import SNIFF_BYTES, content_type_for
from core.storage.paths import PathRefused, normalize_path
from core.storage.store import (
    MAX_KEY_BYTES,
    ArtifactStore,
    ObjectNotFound,
    check_prefix,
)

if TYPE_CHECKING:
    from core.config import Settings


class StoreWorkspace:
    """A tree of files under a key prefix of an artifact store.

    An object store has no directories, so the tree is kept a tree on write: a file is refused
    where a directory is (`a` when `a/b` exists) and below a file (`a/b` when `a` exists).
    Keys that no tool could name (`a//b`, `x/../y`) are left out of listings."""

    def __init__(self, store: ArtifactStore, prefix: str, *, name: str, writable: bool) -> None:
        if not prefix.endswith("/"):
            raise ValueError("a workspace prefix ends with '/'")
        self._store = store
        self._prefix = check_prefix(prefix)
        self._name = name
        self._writable = writable

    @property
    def name(self) -> str:
        return self._name

    @property
    def writable(self) -> bool:
        return self._writable

    @property
    def prefix(self) -> str:
        return self._prefix

    def __repr__(self) -> str:
        return f"StoreWorkspace({self._name!r}, {self._prefix!r}, writable={self._writable})"

    def read(self, path: str, *, max_bytes: int, offset: int = 0) -> tuple[bytes, int]:
        if max_bytes < 0 or offset < 0:
            raise ValueError("max_bytes and offset must not be negative")
        rel = self._file_path(path)
        try:
            return self._store.read(self._key(rel), max_bytes=max_bytes, offset=offset)
        except ObjectNotFound:
            raise FileNotFoundError(f"no such file in the {self._name}: {rel}") from None

    def write(self, path: str, data: bytes) -> FileInfo:
        if not self._writable:
            raise PathRefused(f"the {self._name} is read-only")
        rel = self._file_path(path)
        key = self._key(rel)
        if self._is_directory(rel):
            raise PathRefused(f"{rel} exists and is a directory")
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if self._size(parent) is not None:
                raise PathRefused(f"{parent} is a regular file, not a directory")
        content_type = content_type_for(rel, None, bytes(data[:SNIFF_BYTES]))
        self._store.put(key, bytes(data), content_type=content_type, overwrite=True)
        return FileInfo(rel, len(data))

    def list_files(self, prefix: str = "") -> Iterator[FileInfo]:
        rel = normalize_path(prefix)
        if rel:
            size = self._size(rel)
            if size is not None:
                yield FileInfo(rel, size)
                return
        start = self._prefix + (rel + "/" if rel else "")
        for key, size in self._store.list(start):
            path = key[len(self._prefix) :]
            if _addressable(path):
                yield FileInfo(path, size)

    def _file_path(self, path: str) -> str:
        rel = normalize_path(path)
        if not rel:
            raise PathRefused(f"the path names the {self._name} root directory, not a file")
        return rel

    def _key(self, rel: str) -> str:
        key = self._prefix + rel
        if len(key.encode()) > MAX_KEY_BYTES:
            raise PathRefused(f"path too long for the {self._name}: {rel[:120]!r}")
        return key

    def _size(self, rel: str) -> int | None:
        try:
            return self._store.read(self._key(rel), max_bytes=0)[1]
        except ObjectNotFound:
            return None

    def _is_directory(self, rel: str) -> bool:
        return next(iter(self._store.list(self._prefix + rel + "/")), None) is not None


def bucket_prefix(*, session_id: uuid.UUID | None, execution_id: uuid.UUID | None) -> str:
    """`workspaces/<session_id>/`, or `workspaces/executions/<execution_id>/` without one."""
    if session_id is not None:
        return f"workspaces/{session_id}/"
    if execution_id is None:
        raise ValueError("name a session or an execution")
    return f"workspaces/executions/{execution_id}/"


def local_directory(
    settings: Settings, *, session_id: uuid.UUID | None, execution_id: uuid.UUID | None
) -> Path:
    """WORKSPACE_DIR/sessions/<session_id>, or WORKSPACE_DIR/executions/<execution_id>."""
    if session_id is not None:
        return settings.workspaces_root / "sessions" / str(session_id)
    if execution_id is None:
        raise ValueError("name a session or an execution")
    return settings.workspaces_root / "executions" / str(execution_id)


def workspace_for(
    settings: Settings,
    store: ArtifactStore,
    *,
    session_id: uuid.UUID | None,
    execution_id: uuid.UUID | None = None,
) -> Workspace:
    """The writable workspace of a run: the session's, or the execution's own without one.
    A prefix of the bucket when ARTIFACTS_BUCKET is set, else a directory of WORKSPACE_DIR."""
    if settings.artifacts_bucket:
        prefix = bucket_prefix(session_id=session_id, execution_id=execution_id)
        return StoreWorkspace(store, prefix, name="workspace", writable=True)
    directory = local_directory(settings, session_id=session_id, execution_id=execution_id)
    return LocalWorkspace(directory, name="workspace", writable=True)


def delete_workspace(
    settings: Settings,
    store: ArtifactStore,
    *,
    session_id: uuid.UUID | None,
    execution_id: uuid.UUID | None = None,
) -> None:
    """Remove a session's (or a session-less run's) workspace files, e.g. with its session."""
    if settings.artifacts_bucket:
        prefix = bucket_prefix(session_id=session_id, execution_id=execution_id)
        for key, _size in list(store.list(prefix)):
            store.delete(key)
        return
    directory = local_directory(settings, session_id=session_id, execution_id=execution_id)
    shutil.rmtree(directory, ignore_errors=True)


def _addressable(path: str) -> bool:
    """Whether the tools could name this path (keys like `a//b` or `dir/` are left out)."""
    try:
        return bool(path) and normalize_path(path) == path
    except PathRefused:
        return False
