"""API keys over HTTP."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from core.schemas.common import RequestModel, ResponseModel


def _timestamp(value: Any) -> Any:
    """An RFC 3339 string with its offset (bodies are read strictly, which takes no string for
    a datetime)."""
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value.upper())
    except ValueError:
        raise ValueError("not an RFC 3339 date-time") from None
    if parsed.utcoffset() is None:
        raise ValueError("give the time zone offset (e.g. 2030-01-01T00:00:00Z)")
    return parsed


class ApiKeyCreate(RequestModel):
    NOT_NULL = ("expires_at",)

    name: str = Field(min_length=1, max_length=100)
    scope: Literal["read", "execute", "full"] = Field(
        description="read: GET only; execute: also runs, messages, approvals and uploads; full: "
        "everything the user may do, except managing API keys and the password"
    )
    expires_at: Annotated[datetime | None, BeforeValidator(_timestamp)] = Field(
        default=None, json_schema_extra={"type": "string", "format": "date-time"}
    )


class ApiKeyPublic(ResponseModel):
    id: uuid.UUID
    name: str
    scope: Literal["read", "execute", "full"]
    prefix: str = Field(description="the key begins `ak_<prefix>_`")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="the whole key, `ak_…`: shown this once, never again")
