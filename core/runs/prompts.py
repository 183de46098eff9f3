"""A run's input as the model's prompt: text as it is, a JSON object as JSON, content parts as
their text and files in order: images, PDFs and text files, as bytes, or as `gs://` URIs when
they are in a GCS bucket and every model of the agent is Gemini on Vertex (which reads them
there)."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from core.runs.backends import Backends
from core.runs.input_files import IMAGE_TYPES, InputFile, model_media_type
from core.schemas.content import artifact_ids

if TYPE_CHECKING:
    from pydantic_ai.messages import UserContent

    from core.definition import AgentDefinition


def user_prompt(
    raw_input: Any, backends: Backends, user_id: uuid.UUID, definition: AgentDefinition
) -> str | list[UserContent]:
    """What the model is sent for a run's input: the text (a JSON object as JSON), or for
    content parts their text and files in order."""
    if isinstance(raw_input, str):
        return raw_input
    if not isinstance(raw_input, list):
        return json.dumps(raw_input, ensure_ascii=False)
    files = {file.id: file for file in backends.store.input_files(user_id, artifact_ids(raw_input))}
    by_uri = _bucket_for_uris(backends, definition)
    prompt: list[UserContent] = []
    for part in raw_input:
        if part.get("type") == "text":
            prompt.append(part["text"])
            continue
        file = files.get(uuid.UUID(str(part["artifact_id"])))
        if file is None:  # deleted since the run started
            prompt.append(f"[the file {part['artifact_id']} is no longer available]")
            continue
        prompt.append(_file_part(file, backends, by_uri))
    return prompt


def _file_part(file: InputFile, backends: Backends, bucket: str | None) -> UserContent:
    from pydantic_ai.messages import BinaryContent, DocumentUrl, ImageUrl

    media_type = model_media_type(file.media_type) or "application/octet-stream"
    if bucket is not None and media_type != "text/plain":
        url = f"gs://{bucket}/{file.storage_key}"
        if media_type in IMAGE_TYPES:
            return ImageUrl(url=url, media_type=media_type)
        return DocumentUrl(url=url, media_type=media_type)
    data, _ = backends.artifacts.read(file.storage_key, max_bytes=file.size_bytes + 1)
    return BinaryContent(data=data, media_type=media_type, identifier=file.name)


def _bucket_for_uris(backends: Backends, definition: AgentDefinition) -> str | None:
    """The bucket whose `gs://` URIs the agent's models read, if every one of them can."""
    bucket = getattr(backends.artifacts, "bucket_name", None)
    if not isinstance(bucket, str):
        return None
    models = [definition.model, *definition.model.fallback]
    if all(model.provider == "google-vertex" for model in models):
        return bucket
    return None
