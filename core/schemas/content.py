"""A message's content (or an execute's input) as a list of parts: text, and files the caller
uploaded (artifacts), which go to the model as files."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError

from core.schemas.common import RequestModel

MAX_PARTS = 32
MAX_TEXT_CHARS = 100_000


class TextContent(RequestModel):
    type: Literal["text"]
    text: str = Field(max_length=MAX_TEXT_CHARS)


class ArtifactContent(RequestModel):
    type: Literal["artifact"]
    artifact_id: uuid.UUID = Field(
        description="one of the caller's artifacts: an image, a PDF or a text file"
    )


ContentPart = Annotated[TextContent | ArtifactContent, Field(discriminator="type")]
_parts = TypeAdapter(list[ContentPart])

PARTS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_PARTS,
    "items": {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "type": {"const": "text"},
                    "text": {"type": "string", "maxLength": MAX_TEXT_CHARS},
                },
                "required": ["type", "text"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "type": {"const": "artifact"},
                    "artifact_id": {"type": "string", "format": "uuid"},
                },
                "required": ["type", "artifact_id"],
                "additionalProperties": False,
            },
        ]
    },
}


def content_parts(value: list[Any]) -> list[TextContent | ArtifactContent]:
    """The parts of a list input, checked; ValueError says what is wrong and where."""
    if not value:
        raise ValueError("a list of content parts needs at least one part")
    if len(value) > MAX_PARTS:
        raise ValueError(f"at most {MAX_PARTS} content parts")
    try:
        return list(_parts.validate_python(value))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        raise ValueError(f"content part{where}: {first['msg']}") from None


def artifact_ids(value: Any) -> list[uuid.UUID]:
    """The artifacts a (checked) input names, in order, each once."""
    if not isinstance(value, list):
        return []
    ids = [
        uuid.UUID(str(part["artifact_id"]))
        for part in value
        if isinstance(part, dict) and part.get("type") == "artifact"
    ]
    return list(dict.fromkeys(ids))
