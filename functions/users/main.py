"""Cloud Function `users`: the caller's own account, and user administration."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.access.callers import KeyUse
from core.config import Settings
from core.http import Reply, RouteGroup
from core.http.app import function_entry
from core.models.users import User
from core.pagination import Page
from core.schemas.common import PageOf
from core.schemas.users import (
    AdminUpdate,
    SelfUpdate,
    UsageQuery,
    UsageReport,
    UserPublic,
    UsersQuery,
    WebhookSecretPublic,
)
from core.services import users as service

routes = RouteGroup("users", description="accounts")


@routes.get("/me", response=UserPublic)
def me(user: User) -> User:
    """The caller's account."""
    return user


@routes.patch(
    "/me",
    body=SelfUpdate,
    response=UserPublic,
    responses={409: "the email is taken"},
)
def update_me(
    body: SelfUpdate, user: User, db: Session, api_key: KeyUse | None, now: datetime
) -> User:
    """Change the caller's email, profile or password (the latter needs current_password, and
    a sign-in: never an API key)."""
    return service.update_self(db, user=user, data=body, now=now, api_key=api_key)


@routes.get("/me/webhook-secret", response=WebhookSecretPublic, keys="full", secret=True)
def webhook_secret(user: User, settings: Settings, now: datetime) -> Reply:
    """The secret your webhook deliveries are signed with (Standard Webhooks: `webhook-id`,
    `webhook-timestamp`, `webhook-signature`)."""
    return _private(service.webhook_secret(settings, user=user, now=now))


@routes.post("/me/webhook-secret/rotate", response=WebhookSecretPublic, secret=True)
def rotate_webhook_secret(user: User, db: Session, settings: Settings, now: datetime) -> Reply:
    """A new webhook secret at once; deliveries carry a signature with the previous one too
    for 24 hours."""
    return _private(service.rotate_webhook_secret(db, settings=settings, user=user, now=now))


def _private(secret: Any) -> Reply:
    return Reply(secret, 200, {"Cache-Control": "no-store"})


@routes.get("/me/usage", query=UsageQuery, response=UsageReport)
def my_usage(query: UsageQuery, user: User, db: Session, settings: Settings, now: datetime) -> Any:
    """Your executions, tokens and cost per UTC day (`days`, up to 366, today included), and
    the quotas in force."""
    return service.usage_of(db, user=user, settings=settings, days=query.days, today=now.date())


@routes.get("/<uuid:user_id>/usage", query=UsageQuery, response=UsageReport)
def user_usage(
    user_id: uuid.UUID,
    query: UsageQuery,
    user: User,
    db: Session,
    settings: Settings,
    now: datetime,
) -> Any:
    """Admins: a user's usage per UTC day and quotas."""
    return service.admin_usage(
        db, actor=user, user_id=user_id, settings=settings, days=query.days, today=now.date()
    )


@routes.get("", query=UsersQuery, response=PageOf[UserPublic])
def list_users(query: UsersQuery, user: User, db: Session) -> Page[User]:
    """Every account (admins only)."""
    return service.admin_list(db, actor=user, query=query)


@routes.get("/<uuid:user_id>", response=UserPublic)
def get_user(user_id: uuid.UUID, user: User, db: Session) -> User:
    """One account (admins only)."""
    return service.admin_get(db, actor=user, user_id=user_id)


@routes.patch(
    "/<uuid:user_id>",
    body=AdminUpdate,
    response=UserPublic,
    responses={409: "an admin may not demote or deactivate themselves"},
)
def update_user(
    user_id: uuid.UUID, body: AdminUpdate, user: User, db: Session, now: datetime
) -> User:
    """Change an account's role or activate/deactivate it (admins only)."""
    return service.admin_update(db, actor=user, user_id=user_id, data=body, now=now)


entry = function_entry(lambda: routes)
