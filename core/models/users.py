from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, created_at, str_enum, updated_at, uuid_pk


class Role(enum.StrEnum):
    user = "user"
    moderator = "moderator"
    admin = "admin"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        # usernames and emails are unique regardless of case
        Index("uq_users_username_lower", func.lower(text("username")), unique=True),
        Index("uq_users_email_lower", func.lower(text("email")), unique=True),
        Index("ix_users_created_at_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    username: Mapped[str] = mapped_column(String(50))
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[Role] = mapped_column(str_enum(Role, "user_role"), default=Role.user)
    is_active: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    profile: Mapped[dict[str, Any]] = mapped_column(
        default=dict, server_default=text("'{}'::jsonb")
    )
    # unfinished top-level runs, kept by triggers (migration 0012: quotas)
    active_runs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # an admin's overrides of the service's quotas: max_concurrent_runs, daily_tokens,
    # daily_cost_usd
    limits: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'::jsonb"))
    # the webhook signing secret is derived from SECRET_KEY and this version (core.webhooks)
    webhook_secret_version: Mapped[int] = mapped_column(default=0, server_default="0")
    webhook_secret_rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class RefreshToken(Base):
    """A refresh token is stored only as a hash. Each use rotates it (used_at set, a successor
    issued in the same family); presenting a used token again revokes the whole family."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = uuid_pk()  # the token's jti
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()


class ApiKeyScope(enum.StrEnum):
    read = "read"  # GET only
    execute = "execute"  # also runs, messages, approvals and uploads
    full = "full"  # the user, less managing keys and the password


class ApiKey(Base):
    """A key for programs: `ak_<prefix>_<secret>`, shown once; stored as the SHA-256 of the
    whole key (it has 256 bits of randomness: a slow hash would add nothing). Deleting the row
    revokes it."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_user_id_created_at", "user_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[ApiKeyScope] = mapped_column(str_enum(ApiKeyScope, "api_key_scope"))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UsageDay(Base):
    """A user's usage of one UTC day, kept by a trigger as top-level runs end (migration 0011)."""

    __tablename__ = "usage_days"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    executions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(18, 6), default=0, server_default="0")


class RequestCount(Base):
    """Requests of a user in one minute, added to by every instance (core.services.rate_limits).
    Unlogged: a count lost in a database crash costs nothing worth a WAL write per sync."""

    __tablename__ = "request_counts"
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    requests: Mapped[int] = mapped_column(Integer)


class LoginFailure(Base):
    """Failed logins per normalised username, counted over a sliding window. Kept in Postgres
    because function instances scale out and share no memory."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_key_attempted_at", "username_key", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    username_key: Mapped[str] = mapped_column(String(254))
    attempted_at: Mapped[datetime] = mapped_column(server_default=func.now())
