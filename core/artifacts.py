"""An artifact is stored bytes and a row: the bytes are written once, at
`artifacts/<user_id>/<artifact_id>/<ascii name>`, and never change; the row (name, content type,
size, SHA-256) is written after the object, so a row never points at bytes that were not stored.
A run's written files become artifacts here (`record_workspace_files`); the API over them
(upload, list, download, delete) is core.services.artifacts."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from core.errors import Unavailable
from core.models.sessions import Artifact
from core.storage.media import SNIFF_BYTES, content_type_for, display_name, key_name
from core.storage.paths import PathRefused, normalize_path
from core.storage.store import ArtifactStore, StorageFull, StorageReadOnly, StoreUnavailable

if TYPE_CHECKING:
    from core.config import Settings
    from core.storage.local_workspace import Workspace

log = logging.getLogger(__name__)

MAX_RECORDED_FILES = 200


def store_artifact(
    db: Session,
    *,
    store: ArtifactStore,
    user_id: uuid.UUID,
    session_id: uuid.UUID | None,
    execution_id: uuid.UUID | None,
    name: str,
    data: bytes,
    content_type: str,
    now: datetime,
) -> Artifact:
    artifact_id = uuid.uuid4()
    key = f"artifacts/{user_id}/{artifact_id}/{key_name(display_name(name))}"
    stored = store.put(key, data, content_type=content_type)
    artifact = Artifact(
        id=artifact_id,
        user_id=user_id,
        session_id=session_id,
        execution_id=execution_id,
        name=name,
        content_type=content_type,
        size_bytes=stored.size,
        sha256=stored.sha256,
        storage_key=key,
        created_at=now,
    )
    db.add(artifact)
    try:
        db.flush()
    except Exception:
        store.delete(key)  # the row did not make it: do not leave its bytes behind
        raise
    return artifact


@contextmanager
def storage_errors() -> Iterator[None]:
    try:
        yield
    except (StorageFull, StorageReadOnly):
        raise  # 507 storage_full / 503 storage_read_only, as they are
    except StoreUnavailable:
        raise Unavailable(
            "the artifact storage is unavailable; retry shortly", retry_after_s=5
        ) from None


def record_workspace_files(
    db: Session,
    *,
    store: ArtifactStore,
    settings: Settings,
    user_id: uuid.UUID,
    session_id: uuid.UUID | None,
    execution_id: uuid.UUID,
    workspace: Workspace,
    now: datetime,
    paths: Iterable[str] | None = None,
) -> list[Artifact]:
    """Make the run's workspace files artifacts of its execution (and session).

    A file becomes a new artifact when its content differs from the latest artifact recorded
    under its path in the session (for a run without a session: in the execution); an unchanged
    file is skipped, so calling this again after a retried or resumed run adds nothing. A changed
    file gets a new artifact (earlier versions stay, each attached to the run that wrote it).
    `paths` limits the scan to the files a run wrote (see `written_paths`); None scans the whole
    workspace. Files over ARTIFACT_MAX_BYTES are skipped. Returns the artifacts created."""
    scope_column = Artifact.session_id if session_id is not None else Artifact.execution_id
    scope_id = session_id if session_id is not None else execution_id
    # one recorder per session at a time, so two deliveries of one run cannot both add a file
    db.execute(select(func.pg_advisory_xact_lock(_lock_key(scope_id))))
    limit = settings.artifact_max_bytes
    candidates = _workspace_paths(workspace, paths)
    if len(candidates) > MAX_RECORDED_FILES:
        log.warning(
            "execution %s: recording %d of %d workspace files",
            execution_id,
            MAX_RECORDED_FILES,
            len(candidates),
        )
        candidates = candidates[:MAX_RECORDED_FILES]
    if not candidates:
        return []
    latest: dict[str, str] = {
        name: digest
        for name, digest in db.execute(
            select(Artifact.name, Artifact.sha256)
            .where(
                Artifact.user_id == user_id,
                scope_column == scope_id,
                Artifact.name.in_(candidates),
            )
            .ext(distinct_on(Artifact.name))
            .order_by(Artifact.name, Artifact.created_at.desc(), Artifact.id.desc())
        )
    }
    created: list[Artifact] = []
    for path in candidates:
        try:
            data, size = workspace.read(path, max_bytes=limit + 1)
        except (FileNotFoundError, PathRefused):
            continue  # named by a failed write, or gone since
        if size > limit:
            log.warning("execution %s: %s is over the artifact limit", execution_id, path)
            continue
        if latest.get(path) == hashlib.sha256(data).hexdigest():
            continue
        created.append(
            store_artifact(
                db,
                store=store,
                user_id=user_id,
                session_id=session_id,
                execution_id=execution_id,
                name=path,
                data=data,
                content_type=content_type_for(path, None, data[:SNIFF_BYTES]),
                now=now,
            )
        )
    return created


def written_paths(messages: Iterable[Any]) -> list[str]:
    """The paths `file_write` was called with in a run's pydantic-ai messages, first-seen order.

    Read from the saved message history, so a resumed run still knows what its earlier attempts
    wrote. A call that failed is listed too; record_workspace_files skips what did not change."""
    seen: dict[str, None] = {}
    for message in messages:
        for part in getattr(message, "parts", ()):
            if getattr(part, "part_kind", None) != "tool-call" or part.tool_name != "file_write":
                continue
            try:
                path = part.args_as_dict().get("path")
            except ValueError:  # arguments that were not valid JSON
                continue
            if isinstance(path, str):
                try:
                    seen.setdefault(normalize_path(path), None)
                except PathRefused:
                    continue
    return [path for path in seen if path]


def _workspace_paths(workspace: Workspace, paths: Iterable[str] | None) -> list[str]:
    if paths is None:
        return [info.path for info in islice(workspace.list_files(), MAX_RECORDED_FILES + 1)]
    clean: dict[str, None] = {}
    for path in paths:
        try:
            rel = normalize_path(path)
        except PathRefused:
            continue
        if rel:
            clean.setdefault(rel, None)
    return list(clean)


def _lock_key(scope_id: uuid.UUID) -> int:
    digest = hashlib.sha256(b"record-workspace-files:" + scope_id.bytes).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
