"""Files in a run's input: the artifacts its content parts name, checked when the run starts
(the caller's own, of a type a model reads, within the size limit). core.runs.prompts hands
them to the model."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFound, PayloadTooLarge, UnsupportedMediaType
from core.models.sessions import Artifact
from core.schemas.content import artifact_ids

if TYPE_CHECKING:
    from core.config import Settings

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
DOCUMENT_TYPES = frozenset({"application/pdf"})
TEXT_TYPES = frozenset({"application/json", "application/xml", "application/x-yaml"})


@dataclass(frozen=True)
class InputFile:
    id: uuid.UUID
    name: str
    media_type: str  # without parameters
    size_bytes: int
    storage_key: str


def model_media_type(content_type: str) -> str | None:
    """The type a model is sent a file as (text of any kind as text/plain), None when no model
    reads it."""
    base = content_type.split(";")[0].strip().lower()
    if base in IMAGE_TYPES or base in DOCUMENT_TYPES:
        return base
    if base.startswith("text/") or base in TEXT_TYPES:
        return "text/plain"
    return None


def input_files(db: Session, user_id: uuid.UUID, ids: list[uuid.UUID]) -> list[InputFile]:
    """The user's artifacts of these ids, in their order (missing ones left out)."""
    if not ids:
        return []
    rows = {
        row.id: row
        for row in db.execute(
            select(
                Artifact.id,
                Artifact.name,
                Artifact.content_type,
                Artifact.size_bytes,
                Artifact.storage_key,
            ).where(Artifact.id.in_(ids), Artifact.user_id == user_id)
        )
    }
    return [
        InputFile(
            id=row.id,
            name=row.name,
            media_type=row.content_type.split(";")[0].strip().lower(),
            size_bytes=row.size_bytes,
            storage_key=row.storage_key,
        )
        for artifact_id in ids
        if (row := rows.get(artifact_id)) is not None
    ]


def check_input_files(db: Session, user_id: uuid.UUID, raw_input: Any, settings: Settings) -> None:
    """Before a run starts: every artifact its input names is the caller's (else 404, as for
    anyone else's), of a type a model reads (415), and together within INPUT_FILES_MAX_BYTES
    (413)."""
    ids = artifact_ids(raw_input)
    if not ids:
        return
    found = input_files(db, user_id, ids)
    known = {file.id for file in found}
    missing = [artifact_id for artifact_id in ids if artifact_id not in known]
    if missing:
        raise NotFound(f"no such artifact: {missing[0]}", code="artifact_not_found")
    for file in found:
        if model_media_type(file.media_type) is None:
            raise UnsupportedMediaType(
                f"{file.name} is {file.media_type}: a model reads images (PNG, JPEG, GIF, "
                "WebP), PDFs and text files",
                code="unsupported_file_type",
            )
    total = sum(file.size_bytes for file in found)
    if total > settings.input_files_max_bytes:
        raise PayloadTooLarge(
            f"the files of one input add up to {total} bytes; the limit is "
            f"{settings.input_files_max_bytes} (INPUT_FILES_MAX_BYTES)",
            code="input_files_too_large",
        )
