"""Cloud Function `auth`: register, login, token refresh and logout."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session
from werkzeug.datastructures import Headers

from core.config import Settings
from core.http import Reply, RouteGroup, session_cookie
from core.http.app import function_entry
from core.models.users import User
from core.schemas.users import (
    AccessToken,
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


# -- the console's session: the refresh token in a cookie (core.http.session_cookie) ------------


def _console_reply(pair: TokenPair, settings: Settings) -> Reply:
    access = AccessToken(access_token=pair.access_token, expires_in=pair.expires_in)
    return Reply(
        access, headers=session_cookie.keep(pair.refresh_token, settings.refresh_token_ttl_s)
    )


@routes.post(
    "/console/login",
    body=LoginRequest,
    response=AccessToken,
    secret=True,
    auth="none",
    responses={
        401: "bad credentials",
        403: "the X-Agents-Console: 1 header is missing",
        429: "too many failed logins for this username lately (Retry-After)",
    },
)
def console_login(
    body: LoginRequest, headers: Headers, db: Session, settings: Settings, now: datetime
) -> Reply:
    """Sign the console in: the access token in the answer, the refresh token in an HttpOnly,
    Secure, SameSite=Strict cookie sent only to /auth/console."""
    session_cookie.from_console(headers)
    pair = service.login(
        db, settings=settings, identifier=body.username, password=body.password, now=now
    )
    return _console_reply(pair, settings)


@routes.post(
    "/console/refresh",
    response=AccessToken,
    secret=True,
    auth="none",
    responses={
        401: "no session cookie, or its token is invalid, expired, revoked or reused",
        403: "the X-Agents-Console: 1 header is missing",
    },
)
def console_refresh(headers: Headers, db: Session, settings: Settings, now: datetime) -> Reply:
    """A new access token for the console's cookie (which is rotated): how a reload stays
    signed in."""
    session_cookie.from_console(headers)
    token = session_cookie.refresh_token_of(headers)
    pair = service.refresh(db, settings=settings, refresh_token=token, now=now)
    return _console_reply(pair, settings)


@routes.post(
    "/console/logout",
    status=204,
    auth="none",
    responses={403: "the X-Agents-Console: 1 header is missing"},
)
def console_logout(headers: Headers, db: Session, settings: Settings, now: datetime) -> Reply:
    """Sign the console out: its login session ends (every rotation of the cookie's token)
    and the cookie is cleared."""
    session_cookie.from_console(headers)
    token = session_cookie.cookie_token(headers)
    if token is not None:
        service.end_session(db, settings=settings, refresh_token=token, now=now)
    return Reply(None, 204, session_cookie.forget())


entry = function_entry(lambda: routes)
