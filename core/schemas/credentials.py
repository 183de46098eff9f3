"""API schemas of credentials: a name and a value going in; never the value coming out."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field

from core.schemas.common import PageQuery, RequestModel, ResponseModel

CREDENTIAL_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"
CredentialName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=CREDENTIAL_NAME_PATTERN,
        description="letters, digits, _ . - (starting with a letter); unique per user",
    ),
]
MAX_CREDENTIAL_BYTES = 8192


class CredentialCreate(RequestModel):
    model_config = RequestModel.model_config | {
        "json_schema_extra": {"example": {"name": "github", "value": "ghp_…"}}
    }

    name: CredentialName
    value: str = Field(
        min_length=1,
        max_length=MAX_CREDENTIAL_BYTES,
        description="the secret; stored encrypted and never returned",
        json_schema_extra={"writeOnly": True},
    )


class CredentialPublic(ResponseModel):
    id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None


class CredentialsQuery(PageQuery):
    pass
