"""Artifacts: files users upload into their sessions and files agents write during runs.

Rules answered here once:
- an artifact belongs to the user who uploaded it (or whose run wrote it); nobody else, admins
  included, sees it: any other caller gets 404 on every route;
- an upload attaches to one of the caller's own sessions, and optionally to one of the caller's
  runs of that session;
- the bytes are written once, at `artifacts/<user_id>/<artifact_id>/<ascii name>`, and never
  change; the row (name, content type, size, SHA-256) is written after the object, so a row
  never points at bytes that were not stored;
- delete removes the object first, then the row: a failure leaves the row (retry the delete),
  never an unreferenced object.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.artifacts import storage_errors, store_artifact
from core.errors import Invalid, NotFound, PayloadTooLarge, field_error
from core.models.executions import AgentExecution
from core.models.sessions import Artifact
from core.models.users import User
from core.pagination import Keyset, Page
from core.runs.session_rules import own_session
from core.schemas.artifacts import ArtifactsQuery
from core.storage.media import (
    SNIFF_BYTES,
    content_type_for,
    display_name,
    key_name,
)
from core.storage.paths import PathRefused
from core.storage.store import (
    ArtifactStore,
    ObjectNotFound,
    disk_errors,
)

if TYPE_CHECKING:
    from core.config import Settings

log = logging.getLogger(__name__)

ARTIFACTS_ORDER = Keyset((Artifact.created_at, Artifact.id), descending=True)
# room for the multipart framing and the form fields around an upload of the maximum size
MULTIPART_OVERHEAD_BYTES = 64 * 1024


# a run that writes more files than this records the first ones (in path order) and logs it
def upload_body_limit() -> int:
    """The request body limit of an upload: the file limit plus the multipart framing."""
    from core.config import get_settings

    return get_settings().artifact_max_bytes + MULTIPART_OVERHEAD_BYTES


def upload_artifact(
    db: Session,
    *,
    user: User,
    store: ArtifactStore,
    settings: Settings,
    session_id: uuid.UUID,
    execution_id: uuid.UUID | None,
    filename: str,
    content_type: str | None,
    stream: IO[bytes],
    now: datetime,
) -> Artifact:
    """Store an uploaded file as an artifact of one of the caller's sessions (and runs)."""
    session = own_session(db, user.id, session_id)
    if execution_id is not None:
        execution = _own_execution(db, user, execution_id)
        if execution.session_id != session.id:
            raise Invalid(
                "the execution is not a run of this session",
                details=[
                    field_error(["body", "execution_id"], "not a run of this session", "session")
                ],
            )
    limit = settings.artifact_max_bytes
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"the file is larger than the {limit}-byte limit of an artifact")
    name = display_name(filename)
    with storage_errors():
        # the object, then its row (not committed yet), then the workspace copy: any failure
        # removes the object and rolls the row back, so nothing is left half-written
        artifact = store_artifact(
            db,
            store=store,
            user_id=user.id,
            session_id=session.id,
            execution_id=execution_id,
            name=name,
            data=data,
            content_type=content_type_for(name, content_type, data[:SNIFF_BYTES]),
            now=now,
        )
        try:
            with disk_errors("copying the file into the session's workspace"):
                _into_workspace(settings, store, session.id, name, data)
        except BaseException:
            store.delete(artifact.storage_key)
            raise
        return artifact


UPLOADS_DIR = "uploads"


def upload_path(name: str) -> str:
    """Where an upload lands in its session's workspace (what the agent's file tools read)."""
    return f"{UPLOADS_DIR}/{key_name(name)}"


def _into_workspace(
    settings: Settings, store: ArtifactStore, session_id: uuid.UUID, name: str, data: bytes
) -> None:
    """A copy of the upload in the session's workspace, under uploads/ (a later upload of the
    same name replaces it; the artifact keeps every version)."""
    from core.storage.workspace import workspace_for

    workspace = workspace_for(settings, store, session_id=session_id)
    try:
        workspace.write(upload_path(name), data)
    except PathRefused as exc:  # e.g. the agent made uploads/ a file: the artifact stands
        log.warning(
            "session %s: the upload %s stays out of the workspace: %s", session_id, name, exc
        )


def list_artifacts(db: Session, *, user: User, query: ArtifactsQuery) -> Page[Artifact]:
    """The caller's artifacts, newest first. A filter naming someone else's session or run
    simply matches nothing, as in the other lists."""
    stmt = select(Artifact).where(Artifact.user_id == user.id)
    where = {Artifact.session_id: query.session_id, Artifact.execution_id: query.execution_id}
    return ARTIFACTS_ORDER.fetch(db, stmt, query.cursor, query.limit, where=where)


def get_artifact(db: Session, *, user: User, artifact_id: uuid.UUID) -> Artifact:
    artifact = db.get(Artifact, artifact_id)
    if artifact is None or artifact.user_id != user.id:
        raise NotFound("no such artifact", code="artifact_not_found")
    return artifact


@dataclass(frozen=True)
class Download:
    """How to deliver an artifact's bytes: redirect to `url`, or stream `chunks`."""

    artifact: Artifact
    url: str | None = None
    chunks: Iterator[bytes] | None = None


def artifact_download(
    db: Session, *, user: User, store: ArtifactStore, settings: Settings, artifact_id: uuid.UUID
) -> Download:
    """A signed URL when the store can make one (GCS), else the bytes streamed by the API.
    Either way the file is delivered as an attachment of its stored content type."""
    artifact = get_artifact(db, user=user, artifact_id=artifact_id)
    with storage_errors():
        url = store.signed_url(
            artifact.storage_key,
            ttl_s=settings.signed_url_ttl_s,
            filename=display_name(artifact.name),
            content_type=artifact.content_type,
        )
    if url is not None:
        return Download(artifact, url=url)
    try:
        with storage_errors():
            chunks = store.open(artifact.storage_key)
    except ObjectNotFound:
        log.error("artifact %s has no stored object at %s", artifact.id, artifact.storage_key)
        raise NotFound(
            "the artifact's content is missing; delete the artifact", code="artifact_not_found"
        ) from None
    return Download(artifact, chunks=chunks)


def delete_artifact(
    db: Session, *, user: User, store: ArtifactStore, artifact_id: uuid.UUID
) -> None:
    artifact = get_artifact(db, user=user, artifact_id=artifact_id)
    with storage_errors():
        store.delete(artifact.storage_key)  # first: a failure here leaves everything as it was
    db.delete(artifact)
    db.flush()


def delete_session_artifacts(db: Session, *, store: ArtifactStore, session_id: uuid.UUID) -> int:
    """Delete the stored objects of a session's artifacts before the session (and, by cascade,
    the artifact rows) goes; returns how many there were."""
    keys = db.scalars(select(Artifact.storage_key).where(Artifact.session_id == session_id)).all()
    for key in keys:
        store.delete(key)
    return len(keys)


def _own_execution(db: Session, user: User, execution_id: uuid.UUID) -> AgentExecution:
    execution = db.get(AgentExecution, execution_id)
    if execution is None or execution.user_id != user.id:
        raise NotFound("no such execution", code="execution_not_found")
    return execution
