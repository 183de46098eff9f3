"""Cloud Function `artifacts`: files uploaded into sessions and written by runs."""

from __future__ import annotations

import uuid
from datetime import datetime

from flask import Response
from sqlalchemy.orm import Session

from core.http import RouteGroup
from core.http.app import function_entry
from core.http.files import download_response
from core.http.routes import Upload
from core.models.sessions import Artifact
from core.models.users import User
from core.pagination import Page
from core.runs.backends import Backends
from core.schemas.artifacts import ArtifactPublic, ArtifactsQuery, ArtifactUploadForm
from core.schemas.common import PageOf
from core.services import artifacts as service

routes = RouteGroup("artifacts", description="files uploaded into sessions and written by runs")


@routes.post(
    "",
    form=ArtifactUploadForm,
    upload="file",
    max_body_bytes=service.upload_body_limit,
    response=ArtifactPublic,
    status=201,
    keys="execute",
    responses={
        503: "the storage is read-only (`storage_read_only`) or unavailable; see Retry-After",
        507: "the storage is full (`storage_full`): nothing was written",
    },
)
def upload_artifact(
    form: ArtifactUploadForm,
    upload: Upload,
    user: User,
    db: Session,
    backends: Backends,
    now: datetime,
) -> Artifact:
    """Upload a file (multipart: file, session_id, execution_id?) into one of your sessions;
    larger than ARTIFACT_MAX_BYTES (25 MiB by default) → 413."""
    return service.upload_artifact(
        db,
        user=user,
        store=backends.artifacts,
        settings=backends.settings,
        session_id=form.session_id,
        execution_id=form.execution_id,
        filename=upload.filename,
        content_type=upload.content_type,
        stream=upload.stream,
        now=now,
    )


@routes.get("", query=ArtifactsQuery, response=PageOf[ArtifactPublic])
def list_artifacts(query: ArtifactsQuery, user: User, db: Session) -> Page[Artifact]:
    """Your artifacts, newest first (filters session_id, execution_id)."""
    return service.list_artifacts(db, user=user, query=query)


@routes.get("/<uuid:artifact_id>", response=ArtifactPublic)
def get_artifact(artifact_id: uuid.UUID, user: User, db: Session) -> Artifact:
    """One artifact's metadata: name, content type, size, SHA-256."""
    return service.get_artifact(db, user=user, artifact_id=artifact_id)


@routes.get(
    "/<uuid:artifact_id>/content",
    responses={
        200: "the bytes, as an attachment (local storage)",
        302: "redirect to a signed download URL valid for SIGNED_URL_TTL_S (Cloud Storage)",
    },
)
def download_artifact(
    artifact_id: uuid.UUID, user: User, db: Session, backends: Backends
) -> Response:
    """The artifact's bytes: streamed, or a redirect to a short-lived signed URL."""
    download = service.artifact_download(
        db,
        user=user,
        store=backends.artifacts,
        settings=backends.settings,
        artifact_id=artifact_id,
    )
    return download_response(download)


@routes.delete("/<uuid:artifact_id>", status=204)
def delete_artifact(artifact_id: uuid.UUID, user: User, db: Session, backends: Backends) -> None:
    """Delete the artifact: its stored bytes, then its record."""
    service.delete_artifact(db, user=user, store=backends.artifacts, artifact_id=artifact_id)


entry = function_entry(lambda: routes)
