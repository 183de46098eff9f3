"""Cloud Function `auth`: register, login, token refresh and logout."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from core.config import Settings
from core.http import RouteGroup
from core.http.app import function_entry
from core.models.users import User
from core.schemas.users import (
    LoginRequest,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
    UserPublic,
)
from core.services import auth as service
from core.services import users

routes = RouteGroup("auth", description="accounts and tokens")


@routes.post(
    "/register",
    body=RegisterRequest,
    response=UserPublic,
    status=201,
    auth="none",
    responses={409: "the username or email is taken (details name which)"},
)
def register(body: RegisterRequest, db: Session) -> User:
    """Create an account."""
    return users.register(db, data=body)


@routes.post(
    "/login",
    body=LoginRequest,
    response=TokenPair,
    secret=True,
    auth="none",
    responses={
        401: "bad credentials",
        429: "too many failed logins for this username lately (Retry-After)",
    },
)
def login(body: LoginRequest, db: Session, settings: Settings, now: datetime) -> TokenPair:
    """Exchange a username (or email) and password for an access and a refresh token."""
    return service.login(
        db, settings=settings, identifier=body.username, password=body.password, now=now
    )


@routes.post(
    "/refresh",
    body=RefreshRequest,
    response=TokenPair,
    secret=True,
    auth="none",
    responses={401: "the refresh token is invalid, expired, revoked or reused"},
)
def refresh(body: RefreshRequest, db: Session, settings: Settings, now: datetime) -> TokenPair:
    """Rotate a refresh token: the old one stops working; reusing it ends the whole session."""
    return service.refresh(db, settings=settings, refresh_token=body.refresh_token, now=now)


@routes.post("/logout", body=RefreshRequest, status=204)
def logout(
    body: RefreshRequest, user: User, db: Session, settings: Settings, now: datetime
) -> None:
    """End the login session the refresh token belongs to."""
    service.logout(db, settings=settings, user=user, refresh_token=body.refresh_token, now=now)


entry = function_entry(lambda: routes)
