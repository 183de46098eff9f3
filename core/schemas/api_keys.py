"""API keys over HTTP."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from core.schemas.common import RequestModel, ResponseModel

MAX_KEY_DAYS = 3650


class ApiKeyCreate(RequestModel):
    NOT_NULL = ("expires_in_days",)

    name: str = Field(min_length=1, max_length=100)
    scope: Literal["read", "execute", "full"] = Field(
        description="read: GET only; execute: also runs, messages, approvals and uploads; full: "
        "everything the user may do, except managing API keys and the password"
    )
    # a lifetime rather than a moment: the document can state its whole rule, and no clock
    # skew between a client and the service makes it already past
    expires_in_days: int | None = Field(
        default=None,
        ge=1,
        le=MAX_KEY_DAYS,
        description="the key stops working this many days from now (its expires_at says when); "
        "left out, it works until revoked",
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
