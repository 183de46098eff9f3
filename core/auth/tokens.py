"""JWTs (HS256 only). Access and refresh tokens share the claim set and differ by `typ`;
decoding always names the one algorithm, the audience, the issuer and the expected type."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt

from core.config import Settings
from core.errors import Unauthorized

ALGORITHMS = ["HS256"]
TokenType = Literal["access", "refresh"]
REQUIRED_CLAIMS = ["sub", "exp", "iat", "jti", "iss", "aud", "typ"]


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: uuid.UUID
    token_id: uuid.UUID
    token_type: TokenType
    issued_at: datetime
    expires_at: datetime


def issue_token(
    settings: Settings,
    *,
    user_id: uuid.UUID,
    token_type: TokenType,
    now: datetime,
    token_id: uuid.UUID | None = None,
) -> tuple[str, TokenClaims]:
    ttl = settings.access_token_ttl_s if token_type == "access" else settings.refresh_token_ttl_s
    claims = TokenClaims(
        user_id=user_id,
        token_id=token_id or uuid.uuid4(),
        token_type=token_type,
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl),
    )
    payload = {
        "sub": str(user_id),
        "jti": str(claims.token_id),
        "typ": token_type,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(now.timestamp()),
        "exp": int(claims.expires_at.timestamp()),
    }
    return jwt.encode(payload, settings.signing_key(), algorithm=ALGORITHMS[0]), claims


# access tokens verified lately, per settings object: a client presents the same token on
# every request, and once its signature and claims were checked only its expiry can change
# the answer (pyjwt's verification is most of an authenticated request's own CPU)
VERIFIED_KEPT = 4096
LEEWAY_S = 5
_verified: dict[tuple[int, str], tuple[Settings, float, TokenClaims]] = {}
_verified_lock = threading.Lock()
_clock = time.time


def decode_token(settings: Settings, token: str, *, expected: TokenType) -> TokenClaims:
    """Every failure is the same 401: the caller learns nothing about why."""
    if expected != "access":  # refresh tokens are presented once each
        return _decode(settings, token, expected)
    key = (id(settings), token)
    kept = _verified.get(key)
    if kept is None or kept[0] is not settings:
        claims = _decode(settings, token, expected)
        with _verified_lock:  # every change under the lock: eviction iterates the dict
            if len(_verified) >= VERIFIED_KEPT:
                del _verified[next(iter(_verified))]  # the oldest
            _verified[key] = (settings, claims.expires_at.timestamp(), claims)
        return claims
    if kept[1] <= _clock() - LEEWAY_S:
        with _verified_lock:
            _verified.pop(key, None)
        raise Unauthorized("invalid or expired token", code="invalid_token")
    return kept[2]


def _decode(settings: Settings, token: str, expected: TokenType) -> TokenClaims:
    try:
        payload = jwt.decode(
            token,
            settings.signing_key(),
            algorithms=ALGORITHMS,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": REQUIRED_CLAIMS},
            leeway=LEEWAY_S,
        )
        if payload["typ"] != expected:
            raise jwt.InvalidTokenError("wrong token type")
        return TokenClaims(
            user_id=uuid.UUID(str(payload["sub"])),
            token_id=uuid.UUID(str(payload["jti"])),
            token_type=expected,
            issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
            expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
        )
    except (jwt.InvalidTokenError, ValueError, TypeError, KeyError):
        raise Unauthorized("invalid or expired token", code="invalid_token") from None


def token_digest(token: str) -> str:
    """Refresh tokens are stored as this digest, never as themselves."""
    return hashlib.sha256(token.encode()).hexdigest()
