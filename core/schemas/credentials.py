"""API schemas of credentials: a name, a value and the hosts it may be sent to going in; never
the value coming out."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import AfterValidator, Field

from core.egress import normalized_host
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
MAX_ALLOWED_HOSTS = 20

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# a host name, `*.` and a domain (any name below it), an IPv4 address or a bracketed IPv6 one
HOST_PATTERN = rf"^(?:(?:\*\.)?(?:{_LABEL}\.)*{_LABEL}\.?|\[[0-9A-Fa-f:.]+\])$"


def _distinct(hosts: list[str]) -> list[str]:
    return list(dict.fromkeys(normalized_host(host) for host in hosts))


AllowedHosts = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=255, pattern=HOST_PATTERN)]],
    Field(
        min_length=1,
        max_length=MAX_ALLOWED_HOSTS,
        description=(
            "the hosts this credential may be sent to (MCP servers, A2A agents): exact names "
            '("api.github.com"), "*.example.com" for any name below a domain, or IP addresses; '
            "ports play no part. A run sends it nowhere else."
        ),
        json_schema_extra={"example": ["api.github.com"]},
    ),
    AfterValidator(_distinct),
]
CredentialValue = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_CREDENTIAL_BYTES,
        description="the secret; stored encrypted and never returned",
        json_schema_extra={"writeOnly": True},
    ),
]


class CredentialCreate(RequestModel):
    model_config = RequestModel.model_config | {
        "json_schema_extra": {
            "example": {"name": "github", "value": "ghp_…", "allowed_hosts": ["api.github.com"]}
        }
    }

    name: CredentialName
    value: CredentialValue
    allowed_hosts: AllowedHosts


class CredentialUpdate(RequestModel):
    NOT_NULL: ClassVar[tuple[str, ...]] = ("value", "allowed_hosts")

    value: CredentialValue | None = None
    allowed_hosts: AllowedHosts | None = None


class CredentialSendPublic(ResponseModel):
    agent_id: uuid.UUID
    agent_name: str
    host: str
    execution_id: uuid.UUID | None
    last_sent_at: datetime


class CredentialPublic(ResponseModel):
    id: uuid.UUID
    name: str
    allowed_hosts: list[str]
    created_at: datetime
    last_used_at: datetime | None
    notice: str | None = Field(
        default=None,
        description="why the credential is not sent anywhere (it names no hosts yet), if so",
    )
    sent_to: list[CredentialSendPublic] = Field(
        default_factory=list,
        description="where runs last sent it: per agent and host, the latest time (newest first)",
    )


class CredentialsQuery(PageQuery):
    pass
