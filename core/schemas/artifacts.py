"""API schemas of artifacts: the files users upload and agents write."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field, computed_field

from core.schemas.common import PageQuery, RequestModel, ResponseModel


class ArtifactUploadForm(RequestModel):
    """The plain fields of `POST /artifacts` (multipart/form-data, beside the `file` part)."""

    NOT_NULL = ("execution_id",)

    session_id: uuid.UUID = Field(description="one of the caller's sessions")
    execution_id: uuid.UUID | None = Field(
        default=None, description="one of the caller's runs (of that session, if it has one)"
    )


class ArtifactsQuery(PageQuery):
    session_id: uuid.UUID | None = None
    execution_id: uuid.UUID | None = None


class ArtifactPublic(ResponseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    session_id: uuid.UUID | None
    execution_id: uuid.UUID | None
    name: str = Field(description="the uploaded file's name, or the workspace path it came from")
    content_type: str
    size_bytes: int
    sha256: str = Field(description="hex SHA-256 of the content")
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def content_url(self) -> str:
        """Where the bytes are: streamed locally, a redirect to a signed URL on GCS."""
        return f"/artifacts/{self.id}/content"
