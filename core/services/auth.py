"""Login, token refresh with rotation and reuse detection, logout, and bearer authentication."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from core.access.callers import Caller
from core.auth.api_keys import is_api_key
from core.auth.passwords import (
    burn_verification_time,
    hash_password,
    needs_rehash,
    verify_password,
)
from core.auth.tokens import decode_token, issue_token, token_digest
from core.config import Settings
from core.errors import LimitReached, Unauthorized
from core.models.users import LoginFailure, RefreshToken, User
from core.schemas.users import TokenPair
from core.services.users import find_by_login

INVALID_CREDENTIALS = "invalid username or password"


def login(
    db: Session, *, settings: Settings, identifier: str, password: str, now: datetime
) -> TokenPair:
    identifier = identifier.strip().lower()
    user = find_by_login(db, identifier)
    # failures count per account (by username or email alike), else per unknown identifier
    key = user.username.lower() if user is not None else identifier
    # serialise logins per key so concurrent guesses cannot slip past the limit
    db.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": "login:" + key})
    window_start = now - timedelta(seconds=settings.login_window_s)
    failures = db.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.username_key == key, LoginFailure.attempted_at > window_start)
    )
    if (failures or 0) >= settings.login_max_failures:
        raise LimitReached(
            "too many failed logins for this username; try again later",
            code="too_many_attempts",
            retry_after_s=settings.login_window_s,
        )
    if user is None:
        burn_verification_time(password)
        accepted = False
    else:
        accepted = verify_password(user.password_hash, password) and user.is_active
    if user is None or not accepted:
        _record_failure(db, key=key, now=now)
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return _issue_pair(db, settings=settings, user=user, family_id=uuid.uuid4(), now=now)


def refresh(db: Session, *, settings: Settings, refresh_token: str, now: datetime) -> TokenPair:
    claims = decode_token(settings, refresh_token, expected="refresh")
    stored = db.scalar(
        select(RefreshToken).where(RefreshToken.id == claims.token_id).with_for_update()
    )
    if stored is None or stored.token_hash != token_digest(refresh_token):
        raise Unauthorized("invalid or expired token", code="invalid_token")
    if stored.used_at is not None and stored.revoked_at is None:
        # a rotated token came back: someone holds a copy. End the whole login session.
        _revoke_family(db, family_id=stored.family_id, now=now)
        db.commit()
        raise Unauthorized("refresh token reuse detected; sign in again", code="token_reused")
    if stored.revoked_at is not None or stored.used_at is not None or stored.expires_at <= now:
        raise Unauthorized("invalid or expired token", code="invalid_token")
    user = db.get(User, stored.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("invalid or expired token", code="invalid_token")
    stored.used_at = now
    return _issue_pair(db, settings=settings, user=user, family_id=stored.family_id, now=now)


def logout(
    db: Session, *, settings: Settings, user: User, refresh_token: str, now: datetime
) -> None:
    """Ends the login session the refresh token belongs to (its whole rotation family)."""
    claims = decode_token(settings, refresh_token, expected="refresh")
    if claims.user_id != user.id:
        raise Unauthorized("invalid or expired token", code="invalid_token")
    family_id = db.scalar(select(RefreshToken.family_id).where(RefreshToken.id == claims.token_id))
    if family_id is not None:
        _revoke_family(db, family_id=family_id, now=now)


def end_session(db: Session, *, settings: Settings, refresh_token: str, now: datetime) -> None:
    """Ends the login session of a refresh token the caller holds (the console's cookie): its
    whole rotation family. A token that is not valid any more ends nothing."""
    from core.errors import Unauthorized as Refused

    try:
        claims = decode_token(settings, refresh_token, expected="refresh")
    except Refused:
        return
    stored = db.scalar(select(RefreshToken).where(RefreshToken.id == claims.token_id))
    if stored is not None and stored.token_hash == token_digest(refresh_token):
        _revoke_family(db, family_id=stored.family_id, now=now)


# every authenticated request runs this: built once (Session.get builds its query each time)


def verify_bearer(settings: Settings, bearer: str | None, now: datetime) -> Caller:
    """The caller a bearer access token (signature, expiry, audience and type checked) or API
    key (core.services.api_keys) names; 401 without one. The account itself is not looked at."""
    if not bearer:
        raise Unauthorized("missing bearer token", code="missing_token")
    if is_api_key(bearer):
        from core.services.api_keys import resolve_key

        user_id, key = resolve_key(bearer, now)
        return Caller(user_id, key)
    return Caller(decode_token(settings, bearer, expected="access").user_id)


def prune_login_failures(db: Session, *, settings: Settings, now: datetime) -> int:
    """Forget failures older than the window (run from the sweeper)."""
    cutoff = now - timedelta(seconds=settings.login_window_s)
    result = db.execute(delete(LoginFailure).where(LoginFailure.attempted_at <= cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


def prune_expired_refresh_tokens(db: Session, *, now: datetime) -> int:
    """Forget refresh tokens past their expiry: their JWT `exp` refuses them anyway, so they
    no longer serve reuse detection (run from the sweeper)."""
    result = db.execute(delete(RefreshToken).where(RefreshToken.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)


def _issue_pair(
    db: Session, *, settings: Settings, user: User, family_id: uuid.UUID, now: datetime
) -> TokenPair:
    access, _ = issue_token(settings, user_id=user.id, token_type="access", now=now)
    refresh_token, claims = issue_token(settings, user_id=user.id, token_type="refresh", now=now)
    db.add(
        RefreshToken(
            id=claims.token_id,
            user_id=user.id,
            family_id=family_id,
            token_hash=token_digest(refresh_token),
            expires_at=claims.expires_at,
        )
    )
    db.flush()
    return TokenPair(
        access_token=access, refresh_token=refresh_token, expires_in=settings.access_token_ttl_s
    )


def _record_failure(db: Session, *, key: str, now: datetime) -> None:
    # committed now: the request is about to fail and roll back, the count must survive it
    db.add(LoginFailure(username_key=key, attempted_at=now))
    db.commit()


def _revoke_family(db: Session, *, family_id: uuid.UUID, now: datetime) -> None:
    db.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
