from __future__ import annotations

import json
import re
import uuid
from datetime import date as date_
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from core.models.users import Role
from core.schemas.common import (
    PageQuery,
    RequestModel,
    ResponseModel,
    absent_not_null,
    within_free_json_levels,
)

# A pragmatic address check (one @, printable ASCII before it, a dotted domain). Deliverability
# is proven by mail, not by syntax; email-validator would add ~0.1 s to every cold start.
_EMAIL = re.compile(
    r"^[\x21-\x3f\x41-\x7e]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$"
)
PROFILE_MAX_BYTES = 16 * 1024


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("not a valid email address")
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def _profile(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value)) > PROFILE_MAX_BYTES:
        raise ValueError(f"profile must serialize to at most {PROFILE_MAX_BYTES} bytes")
    return value


Email = Annotated[
    str,
    Field(
        min_length=3,
        max_length=254,
        pattern=_EMAIL.pattern,
        description="an email address, like name@example.com",
    ),
    AfterValidator(_email),
]
USERNAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"
Username = Annotated[
    str,
    Field(
        min_length=3,
        max_length=50,
        pattern=USERNAME_PATTERN,
        description="letters, digits, _ . and - only",
    ),
]
Password = Annotated[str, Field(min_length=8, max_length=128)]
Profile = Annotated[
    dict[str, Any], AfterValidator(_profile), AfterValidator(within_free_json_levels)
]


class RegisterRequest(RequestModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"username": "alice", "email": "alice@example.com", "password": "correct horse"}
            ]
        },
    )

    username: Username
    email: Email
    password: Password


class UserPublic(ResponseModel):
    id: uuid.UUID
    username: str
    email: str
    role: Role
    is_active: bool
    profile: dict[str, Any]
    created_at: datetime
    updated_at: datetime


def _confirmed_password(schema: dict[str, Any], model: type[BaseModel]) -> None:
    absent_not_null(schema, model)
    schema["dependentRequired"] = {"password": ["current_password"]}


class SelfUpdate(RequestModel):
    """What a user may change about themselves. role and is_active are not here on purpose."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_confirmed_password,
    )
    NOT_NULL = ("email", "profile", "password", "current_password")

    email: Email | None = None
    profile: Profile | None = None
    password: Password | None = None
    current_password: str | None = Field(default=None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _password_change_is_confirmed(self) -> SelfUpdate:
        if self.password is not None and not self.current_password:
            raise ValueError("current_password is required to change the password")
        return self


class UserLimits(RequestModel):
    """Overrides of the service's quotas for one user (null: the service's)."""

    max_concurrent_runs: int | None = Field(default=None, ge=1, le=10_000)
    daily_tokens: int | None = Field(default=None, ge=1)
    daily_cost_usd: float | None = Field(default=None, gt=0, le=1_000_000)


class AdminUpdate(RequestModel):
    role: Role | None = None
    is_active: bool | None = None
    limits: UserLimits | None = Field(
        default=None, description="this user's quotas (each null: the service's default)"
    )


class UsersQuery(PageQuery):
    role: Role | None = None
    is_active: bool | None = None
    q: str | None = Field(default=None, max_length=100, description="username or email contains")


class UserPath(RequestModel):
    user_id: uuid.UUID


class LoginRequest(RequestModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"username": "alice", "password": "correct horse"}]},
    )

    username: str = Field(min_length=1, max_length=254, description="username or email")
    password: str = Field(min_length=1, max_length=128)


class RefreshRequest(RequestModel):
    refresh_token: str = Field(min_length=1, max_length=4096)


class TokenPair(ResponseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the access token expires")


class AccessToken(ResponseModel):
    """The console's half of a token pair: its refresh token went into a cookie."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the access token expires")


class WebhookSecretPublic(ResponseModel):
    secret: str = Field(
        description="`whsec_…`: verify deliveries with any Standard Webhooks library"
    )
    previous_valid_until: datetime | None = Field(
        description="after a rotation, deliveries also carry a signature with the previous "
        "secret until then"
    )


class UsageQuery(RequestModel):
    days: int = Field(default=30, ge=1, le=366, description="this many UTC days, up to today")


class UsageDayPublic(ResponseModel):
    date: date_
    executions: int = Field(description="runs that ended that day (a workflow counts once)")
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal = Field(description="USD of the priced models")


class LimitsInForce(ResponseModel):
    max_concurrent_runs: int
    daily_tokens: int | None = Field(description="null: unlimited")
    daily_cost_usd: float | None = Field(description="null: unlimited")
    active_runs: int = Field(
        description="your runs holding a slot now: queued or running (a run waiting for "
        "approval holds none)"
    )


class UsageReport(ResponseModel):
    user_id: uuid.UUID
    days: list[UsageDayPublic] = Field(description="oldest first, every day of the range")
    limits: LimitsInForce
