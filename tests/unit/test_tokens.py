from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from core.auth.passwords import hash_password, verify_password
from core.auth.tokens import decode_token, issue_token, token_digest
from core.config import Settings
from core.errors import Unauthorized

SETTINGS = Settings.from_environ({"SECRET_KEY": "s" * 48})
NOW = datetime.now(UTC)


def test_access_token_carries_every_required_claim():
    user_id = uuid.uuid4()
    token, claims = issue_token(SETTINGS, user_id=user_id, token_type="access", now=NOW)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert set(payload) == {"sub", "jti", "typ", "iss", "aud", "iat", "exp"}
    assert payload["exp"] - payload["iat"] == 1800
    assert decode_token(SETTINGS, token, expected="access").user_id == user_id
    assert claims.token_type == "access"


def test_token_types_are_not_interchangeable():
    token, _ = issue_token(SETTINGS, user_id=uuid.uuid4(), token_type="refresh", now=NOW)
    with pytest.raises(Unauthorized):
        decode_token(SETTINGS, token, expected="access")


def test_expired_token_is_refused():
    token, _ = issue_token(
        SETTINGS, user_id=uuid.uuid4(), token_type="access", now=NOW - timedelta(hours=1)
    )
    with pytest.raises(Unauthorized):
        decode_token(SETTINGS, token, expected="access")


def test_other_keys_and_algorithms_are_refused():
    payload = {
        "sub": str(uuid.uuid4()),
        "jti": str(uuid.uuid4()),
        "typ": "access",
        "iss": SETTINGS.jwt_issuer,
        "aud": SETTINGS.jwt_audience,
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 60,
    }
    for token in (
        jwt.encode(payload, "o" * 48, algorithm="HS256"),
        jwt.encode(payload, "s" * 64, algorithm="HS512"),
    ):
        with pytest.raises(Unauthorized):
            decode_token(SETTINGS, token, expected="access")


def test_refresh_tokens_are_stored_as_a_digest():
    assert token_digest("abc") != "abc"
    assert len(token_digest("abc")) == 64


def test_password_hash_is_argon2id_and_verifies():
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong horse")
    assert not verify_password("not a hash", "correct horse")


def test_a_verified_access_token_is_kept_until_it_expires(monkeypatch):
    from core.auth import tokens

    user_id = uuid.uuid4()
    token, claims = issue_token(SETTINGS, user_id=user_id, token_type="access", now=NOW)
    assert decode_token(SETTINGS, token, expected="access").user_id == user_id
    assert decode_token(SETTINGS, token, expected="access").user_id == user_id  # kept
    monkeypatch.setattr(tokens, "_clock", lambda: claims.expires_at.timestamp() + 10)
    with pytest.raises(Unauthorized):
        decode_token(SETTINGS, token, expected="access")


def test_a_token_kept_under_one_key_is_checked_again_under_another():
    token, _ = issue_token(SETTINGS, user_id=uuid.uuid4(), token_type="access", now=NOW)
    decode_token(SETTINGS, token, expected="access")
    other = Settings.from_environ({"SECRET_KEY": "o" * 48})
    with pytest.raises(Unauthorized):
        decode_token(other, token, expected="access")


def test_a_kept_access_token_is_still_not_a_refresh_token():
    token, _ = issue_token(SETTINGS, user_id=uuid.uuid4(), token_type="access", now=NOW)
    decode_token(SETTINGS, token, expected="access")
    with pytest.raises(Unauthorized):
        decode_token(SETTINGS, token, expected="refresh")
