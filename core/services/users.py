from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.access.callers import KeyUse
from core.access.roles import require_admin
from core.auth.passwords import hash_password, verify_password
from core.config import Settings
from core.errors import Conflict, NotFound, Unauthorized
from core.models.users import RefreshToken, Role, UsageDay, User
from core.pagination import Keyset, Page, escape_like
from core.patch import patch
from core.schemas.users import AdminUpdate, RegisterRequest, SelfUpdate, UsersQuery
from core.services.api_keys import refuse_key_management

USERS_ORDER = Keyset(columns=(User.created_at, User.id))


def register(db: Session, *, data: RegisterRequest, role: Role = Role.user) -> User:
    _ensure_free(db, username=data.username, email=data.email)
    user = User(
        username=data.username,
        email=data.email,
        password_hash=hash_password(data.password),
        role=role,
    )
    db.add(user)
    _flush_unique(db)
    return user


def get_user(db: Session, user_id: uuid.UUID) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    return user


def find_by_login(db: Session, identifier: str) -> User | None:
    key = identifier.lower()
    stmt = select(User).where(or_(func.lower(User.username) == key, func.lower(User.email) == key))
    return db.scalars(stmt).first()


def update_self(
    db: Session, *, user: User, data: SelfUpdate, now: datetime, api_key: KeyUse | None = None
) -> User:
    """The caller's own email, profile or password; the password only when signed in (never
    with an API key: 403)."""
    if data.password is not None:
        refuse_key_management(api_key)
        if not verify_password(user.password_hash, data.current_password or ""):
            raise Unauthorized("current_password is wrong", code="wrong_password")
        user.password_hash = hash_password(data.password)
        revoke_refresh_tokens(db, user_id=user.id, now=now)
    if data.email is not None and data.email.lower() != user.email.lower():
        _ensure_free(db, email=data.email)
    patch(user, data, "email", "profile")
    _flush_unique(db)
    return user


def admin_get(db: Session, *, actor: User, user_id: uuid.UUID) -> User:
    require_admin(actor)
    return get_user(db, user_id)


def admin_update(
    db: Session, *, actor: User, user_id: uuid.UUID, data: AdminUpdate, now: datetime
) -> User:
    require_admin(actor)
    user = get_user(db, user_id)
    if user.id == actor.id and (
        (data.role is not None and data.role != Role.admin) or data.is_active is False
    ):
        raise Conflict(
            "an admin cannot demote or deactivate themselves; ask another admin",
            code="self_lockout",
        )
    patch(user, data, "role", "is_active")
    if data.is_active is False:
        revoke_refresh_tokens(db, user_id=user.id, now=now)
    if data.limits is not None:
        user.limits = data.limits.model_dump(exclude_none=True)
    db.flush()
    return user


def admin_list(db: Session, *, actor: User, query: UsersQuery) -> Page[User]:
    require_admin(actor)
    stmt = select(User)
    where = {User.role: query.role, User.is_active: query.is_active}
    if query.q:
        pattern = f"%{escape_like(query.q.lower())}%"
        stmt = stmt.where(
            or_(
                func.lower(User.username).like(pattern, escape="\\"),
                func.lower(User.email).like(pattern, escape="\\"),
            )
        )
    return USERS_ORDER.fetch(db, stmt, query.cursor, query.limit, where=where)


def create_admin(db: Session, *, username: str, email: str, password: str) -> User:
    """The first admin (CLI). Promotes the user if the username already exists and the
    password matches; otherwise registers a new admin."""
    existing = find_by_login(db, username)
    if existing is not None:
        if not verify_password(existing.password_hash, password):
            raise Conflict("that username exists with another password", code="user_exists")
        existing.role = Role.admin
        existing.is_active = True
        return existing
    data = RegisterRequest(username=username, email=email, password=password)
    return register(db, data=data, role=Role.admin)


def revoke_refresh_tokens(db: Session, *, user_id: uuid.UUID, now: datetime) -> None:
    db.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def _ensure_free(db: Session, *, username: str | None = None, email: str | None = None) -> None:
    clashes = []
    if username is not None and db.scalar(
        select(User.id).where(func.lower(User.username) == username.lower())
    ):
        clashes.append({"loc": ["body", "username"], "msg": "already taken", "type": "unique"})
    if email is not None and db.scalar(
        select(User.id).where(func.lower(User.email) == email.lower())
    ):
        clashes.append({"loc": ["body", "email"], "msg": "already registered", "type": "unique"})
    if clashes:
        raise Conflict("a user with that username or email already exists", details=clashes)


def _flush_unique(db: Session) -> None:
    """A concurrent insert can still win the race the pre-check lost: same 409."""
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError:
        raise Conflict("a user with that username or email already exists") from None


@dataclass(frozen=True)
class WebhookSecret:
    secret: str
    previous_valid_until: datetime | None


def webhook_secret(settings: Settings, *, user: User, now: datetime) -> WebhookSecret:
    """The secret the caller's webhook deliveries are signed with (core.webhooks)."""
    from core.webhooks import ROTATION_GRACE_S, webhook_secret_for

    until = None
    if user.webhook_secret_rotated_at is not None and user.webhook_secret_version > 0:
        until = user.webhook_secret_rotated_at + timedelta(seconds=ROTATION_GRACE_S)
        until = until if until > now else None
    return WebhookSecret(webhook_secret_for(settings, user.id, user.webhook_secret_version), until)


def rotate_webhook_secret(
    db: Session, *, settings: Settings, user: User, now: datetime
) -> WebhookSecret:
    """A new secret at once; the previous one keeps signing beside it for a day."""
    version = db.execute(
        update(User)
        .where(User.id == user.id)
        .values(
            webhook_secret_version=User.webhook_secret_version + 1,
            webhook_secret_rotated_at=now,
        )
        .returning(User.webhook_secret_version)
    ).scalar_one()
    user.webhook_secret_version, user.webhook_secret_rotated_at = version, now
    return webhook_secret(settings, user=user, now=now)


@dataclass(frozen=True)
class UsageReport:
    user_id: uuid.UUID
    days: list[dict[str, Any]]
    limits: dict[str, Any]


def limits_in_force(user: User, settings: Settings) -> dict[str, Any]:
    """The user's quotas: their overrides, else the service's (core.config)."""
    own = user.limits or {}
    cost = own.get("daily_cost_usd", settings.user_daily_cost_usd)
    return {
        "max_concurrent_runs": own.get("max_concurrent_runs", settings.user_max_concurrent_runs),
        "daily_tokens": own.get("daily_tokens", settings.user_daily_tokens),
        "daily_cost_usd": None if cost is None else float(cost),
        "active_runs": user.active_runs,
    }


def usage_of(db: Session, *, user: User, settings: Settings, days: int, today: date) -> UsageReport:
    """The user's usage per UTC day over the last `days` days (today included), every day
    listed: read from the daily rollup, so a year costs what a day does."""
    first = today - timedelta(days=days - 1)
    rows = {
        row.day: row
        for row in db.scalars(
            select(UsageDay).where(UsageDay.user_id == user.id, UsageDay.day.between(first, today))
        )
    }
    listed = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = rows.get(day)
        listed.append(
            {
                "date": day,
                "executions": row.executions if row else 0,
                "input_tokens": row.input_tokens if row else 0,
                "output_tokens": row.output_tokens if row else 0,
                "cost_usd": row.cost_usd if row else Decimal(0),
            }
        )
    return UsageReport(user.id, listed, limits_in_force(user, settings))


def admin_usage(
    db: Session, *, actor: User, user_id: uuid.UUID, settings: Settings, days: int, today: date
) -> UsageReport:
    require_admin(actor)
    user = get_user(db, user_id)
    return usage_of(db, user=user, settings=settings, days=days, today=today)
