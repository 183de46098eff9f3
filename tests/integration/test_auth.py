"""POST /auth/register|login|refresh|logout and bearer authentication, through the whole app."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import func, select

from core.auth.tokens import issue_token
from core.clock import utcnow
from core.config import Settings, get_settings
from core.models.users import LoginFailure, RefreshToken, User
from tests.conftest import unique_name
from tests.support.api import PASSWORD, assert_error, bearer, login, register, signed_up

USER_FIELDS = {"id", "username", "email", "role", "is_active", "profile", "created_at"}
TOKEN_FIELDS = {"access_token", "refresh_token", "token_type", "expires_in"}


# helpers ---------------------------------------------------------------------------------------


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The status, the code and exactly {"error": {"code", "message", "details"}}."""
    body = assert_error(response, status, code)
    assert set(response.get_json()["error"]) == {"code", "message", "details"}
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["details"], list)
    return body


def locs(body: dict[str, Any]) -> list[list[Any]]:
    return [detail["loc"] for detail in body["details"]]


def register_as(client: Any, username: str, email: str, password: str = PASSWORD) -> Any:
    return client.post(
        "/auth/register", json={"username": username, "email": email, "password": password}
    )


def post_login(client: Any, identifier: str, password: str = PASSWORD) -> Any:
    return client.post("/auth/login", json={"username": identifier, "password": password})


def post_refresh(client: Any, refresh_token: str) -> Any:
    return client.post("/auth/refresh", json={"refresh_token": refresh_token})


def me_with(client: Any, token: str) -> Any:
    return client.get("/users/me", headers=bearer(token))


def user_row(db: Any, user_id: str) -> User:
    db.expire_all()
    user = db.get(User, uuid.UUID(user_id))
    assert user is not None
    return user


def deactivate(db: Any, user_id: str) -> None:
    user_row(db, user_id).is_active = False
    db.flush()


def users_named(db: Any, username: str) -> int:
    return int(
        db.scalar(
            select(func.count())
            .select_from(User)
            .where(func.lower(User.username) == username.lower())
        )
    )


def family_of(db: Any, refresh_token: str) -> list[RefreshToken]:
    db.expire_all()
    jti = uuid.UUID(jwt.decode(refresh_token, options={"verify_signature": False})["jti"])
    family_id = db.scalar(select(RefreshToken.family_id).where(RefreshToken.id == jti))
    assert family_id is not None
    return list(db.scalars(select(RefreshToken).where(RefreshToken.family_id == family_id)))


def failures_for(db: Any, key: str) -> int:
    return int(
        db.scalar(
            select(func.count()).select_from(LoginFailure).where(LoginFailure.username_key == key)
        )
    )


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(settings: Settings, user_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    """A full, valid access-token claim set; a change to None drops that claim."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": str(user_id),
        "jti": str(uuid.uuid4()),
        "typ": "access",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + 600,
    }
    payload.update(changes)
    return {name: value for name, value in payload.items() if value is not None}


def forge(
    payload: dict[str, Any],
    *,
    alg: str = "HS256",
    key: bytes | None = None,
    digest: Callable[..., Any] = hashlib.sha256,
) -> str:
    """A JWT built by hand: any header alg, signed with HMAC(key) or unsigned when key is None."""
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64url(json.dumps(payload).encode())
    signature = b"" if key is None else hmac.new(key, f"{header}.{body}".encode(), digest).digest()
    return f"{header}.{body}.{b64url(signature)}"


# register --------------------------------------------------------------------------------------


def test_register_returns_the_new_user_without_any_password_material(client, db):
    username = unique_name("Reg")
    response = register_as(client, username, f"{username}@Example.COM")

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) >= USER_FIELDS
    assert body["username"] == username
    assert body["email"] == f"{username}@example.com"  # the domain is normalised
    assert body["role"] == "user"
    assert body["is_active"] is True
    assert body["profile"] == {}
    assert body["created_at"]
    assert not {"password", "password_hash", "hash"} & set(body)
    row = user_row(db, body["id"])
    assert row.username == username
    assert row.password_hash.startswith("$argon2id$")
    assert row.password_hash not in response.get_data(as_text=True)
    assert PASSWORD not in response.get_data(as_text=True)


def test_a_hash_of_other_costs_is_remade_at_the_next_login(client, db):
    """PASSWORD_HASH_TIME_COST / _MEMORY_KIB change what new hashes cost; a stored hash of the
    old costs (here production's t=3, m=64 MiB, which the tests lower) still signs in, and is
    remade with the service's costs."""
    from argon2 import PasswordHasher

    user = register(client)
    settings = get_settings()
    row = user_row(db, user["id"])
    stored = PasswordHasher(time_cost=3, memory_cost=65_536).hash(PASSWORD)
    row.password_hash = stored
    db.flush()
    login(client, user["username"])
    db.refresh(row)
    assert row.password_hash != stored  # remade, whatever costs the service runs with
    costs = f"m={settings.password_hash_memory_kib},t={settings.password_hash_time_cost},p=4"
    assert costs in row.password_hash
    assert login(client, user["username"])["access_token"]


def test_registered_user_can_log_in_with_the_password_given(client):
    user = register(client)
    tokens = login(client, user["username"])
    assert me_with(client, tokens["access_token"]).get_json()["id"] == user["id"]


def test_username_taken_in_another_case_is_a_conflict(client, db):
    username = unique_name("Case")
    register_as(client, username, f"{username}@example.com")

    response = register_as(client, username.upper(), f"other_{username}@example.com")

    body = error(response, 409, "conflict")
    assert ["body", "username"] in locs(body)
    assert users_named(db, username) == 1


def test_email_taken_in_another_case_is_a_conflict(client, db):
    first = unique_name("Mail")
    register_as(client, first, f"{first}@example.com")
    second = unique_name("mail")

    response = register_as(client, second, f"{first.upper()}@EXAMPLE.com")

    body = error(response, 409, "conflict")
    assert locs(body) == [["body", "email"]]
    assert users_named(db, second) == 0


@pytest.mark.parametrize(
    "username",
    [
        pytest.param("ab", id="too-short"),
        pytest.param("a" * 51, id="too-long"),
        pytest.param("has space", id="space"),
        pytest.param("semi;colon", id="semicolon"),
        pytest.param("at@sign", id="at-sign"),
        pytest.param("ümlaut", id="non-ascii"),
        pytest.param("trailing\n", id="trailing-newline"),
        pytest.param("", id="empty"),
    ],
)
def test_username_breaking_the_rules_is_rejected(client, db, username):
    response = register_as(client, username, f"{unique_name()}@example.com")

    body = error(response, 422, "validation_error")
    assert locs(body) == [["body", "username"]]
    if username:
        assert users_named(db, username) == 0


@pytest.mark.parametrize("length", [3, 50])
def test_username_at_the_length_limits_is_accepted(client, length):
    username = (uuid.uuid4().hex * 2)[:length]
    response = register_as(client, username, f"{unique_name()}@example.com")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["username"] == username


@pytest.mark.parametrize("password", ["x" * 7, "x" * 129], ids=["7-chars", "129-chars"])
def test_password_outside_8_to_128_chars_is_rejected(client, db, password):
    username = unique_name()
    response = register_as(client, username, f"{username}@example.com", password)

    body = error(response, 422, "validation_error")
    assert locs(body) == [["body", "password"]]
    assert users_named(db, username) == 0


@pytest.mark.parametrize("password", ["x" * 8, "x" * 128], ids=["8-chars", "128-chars"])
def test_password_at_the_length_limits_is_accepted(client, password):
    user = register(client, password=password)
    assert login(client, user["username"], password)["token_type"] == "bearer"


@pytest.mark.parametrize(
    "email",
    ["not-an-email", "two@@example.com", "no-domain@", "@example.com", "sp ace@example.com", "a@b"],
)
def test_invalid_email_is_rejected(client, db, email):
    username = unique_name()
    response = register_as(client, username, email)

    body = error(response, 422, "validation_error")
    assert locs(body) == [["body", "email"]]
    assert users_named(db, username) == 0


def test_email_with_a_nul_character_is_rejected(client, db):
    username = unique_name()
    response = register_as(client, username, f"{username}\x00@example.com")

    body = error(response, 422, "validation_error")
    assert locs(body) == [["body", "email"]]


@pytest.mark.parametrize("field", ["role", "is_active", "id", "is_admin"])
def test_register_refuses_unknown_fields(client, db, field):
    username = unique_name()
    response = client.post(
        "/auth/register",
        json={
            "username": username,
            "email": f"{username}@example.com",
            "password": PASSWORD,
            field: "admin" if field == "role" else True,
        },
    )

    body = error(response, 422, "validation_error")
    assert locs(body) == [["body", field]]
    assert body["details"][0]["type"] == "extra_forbidden"
    assert users_named(db, username) == 0


# request bodies --------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["{bad json", '{"username": ', "{'single': 'quotes'}", "", "  "])
def test_malformed_json_body_is_a_400(client, raw):
    response = client.post("/auth/register", data=raw, content_type="application/json")
    error(response, 400, "malformed_json")


@pytest.mark.parametrize("raw", ["[]", '[{"username": "abc"}]', '"a string"', "42", "null"])
def test_json_body_that_is_not_an_object_is_a_422(client, raw):
    response = client.post("/auth/login", data=raw, content_type="application/json")
    body = error(response, 422, "validation_error")
    assert locs(body) == [["body"]]


def test_body_over_one_mebibyte_is_a_413(client, db):
    raw = json.dumps("x" * 3_000_000)
    response = client.post("/auth/register", data=raw, content_type="application/json")
    error(response, 413, "payload_too_large")


def test_register_body_over_one_mebibyte_creates_nobody(client, db):
    username = unique_name()
    raw = json.dumps(
        {
            "username": username,
            "email": f"{username}@example.com",
            "password": PASSWORD,
            "padding": "x" * (1024 * 1024),
        }
    )
    response = client.post("/auth/register", data=raw, content_type="application/json")
    error(response, 413, "payload_too_large")
    assert users_named(db, username) == 0


# login -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "identifier",
    [
        pytest.param(lambda u: u["username"], id="username"),
        pytest.param(lambda u: u["username"].upper(), id="USERNAME"),
        pytest.param(lambda u: u["username"].lower(), id="username-lower"),
        pytest.param(lambda u: u["email"], id="email"),
        pytest.param(lambda u: u["email"].upper(), id="EMAIL"),
        pytest.param(lambda u: f"  {u['username']} ", id="padded"),
    ],
)
def test_login_by_username_or_email_in_any_case_returns_a_token_pair(client, identifier):
    user = register(client, unique_name("Login"))

    response = post_login(client, identifier(user))

    assert response.status_code == 200, response.get_json()
    tokens = response.get_json()
    assert set(tokens) == TOKEN_FIELDS
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 1800
    assert tokens["access_token"] != tokens["refresh_token"]
    assert me_with(client, tokens["access_token"]).get_json()["id"] == user["id"]


def test_wrong_password_and_unknown_user_get_byte_identical_401_bodies(client):
    user = register(client)

    wrong_password = post_login(client, user["username"], "not the password")
    unknown_user = post_login(client, unique_name("ghost"), "not the password")

    error(wrong_password, 401, "invalid_credentials")
    error(unknown_user, 401, "invalid_credentials")
    assert wrong_password.get_data() == unknown_user.get_data()
    assert wrong_password.headers.get("Content-Type") == unknown_user.headers.get("Content-Type")


def test_inactive_user_cannot_log_in_even_with_the_right_password(client, db):
    user = register(client)
    deactivate(db, user["id"])

    response = post_login(client, user["username"])

    error(response, 401, "invalid_credentials")
    assert response.get_data() == post_login(client, unique_name("ghost")).get_data()


def test_login_stores_only_a_digest_of_the_refresh_token(client, db):
    user = register(client)
    tokens = login(client, user["username"])

    [stored] = family_of(db, tokens["refresh_token"])

    assert stored.user_id == uuid.UUID(user["id"])
    assert stored.token_hash == hashlib.sha256(tokens["refresh_token"].encode()).hexdigest()
    assert stored.used_at is None
    assert stored.revoked_at is None


def test_login_identifier_with_a_nul_character_is_rejected(client):
    response = post_login(client, "admin\x00", "whatever-password")
    body = error(response, 422, "validation_error")
    assert locs(body) == [["body", "username"]]


# bearer authentication -------------------------------------------------------------------------


def test_request_without_authorization_header_is_a_401(client):
    error(client.get("/users/me"), 401, "missing_token")


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc"])
def test_authorization_without_a_bearer_token_is_a_401(client, header):
    error(client.get("/users/me", headers={"Authorization": header}), 401, "missing_token")


@pytest.mark.parametrize(
    "token", ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", "...", "Bearer x", "x" * 5000]
)
def test_garbage_bearer_token_is_a_401(client, token):
    error(client.get("/users/me", headers=bearer(token)), 401, "invalid_token")


def test_hand_forged_token_with_the_right_key_is_accepted(client):
    """Control for the attacks below: the forging helper itself makes valid tokens."""
    user = register(client)
    settings = get_settings()
    token = forge(claims(settings, uuid.UUID(user["id"])), key=settings.signing_key())

    response = me_with(client, token)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["id"] == user["id"]


def _alg_none(settings: Settings, user_id: uuid.UUID) -> str:
    return forge(claims(settings, user_id), alg="none")


def _alg_none_capitalised(settings: Settings, user_id: uuid.UUID) -> str:
    return forge(claims(settings, user_id), alg="None")


def _alg_none_with_signature(settings: Settings, user_id: uuid.UUID) -> str:
    return forge(claims(settings, user_id), alg="none", key=settings.signing_key())


def _hs256_unsigned(settings: Settings, user_id: uuid.UUID) -> str:
    return forge(claims(settings, user_id))


def _other_key(settings: Settings, user_id: uuid.UUID) -> str:
    return jwt.encode(claims(settings, user_id), secrets.token_bytes(48), algorithm="HS256")


def _header_rs256(settings: Settings, user_id: uuid.UUID) -> str:
    return forge(claims(settings, user_id), alg="RS256", key=settings.signing_key())


def _header_hs512(settings: Settings, user_id: uuid.UUID) -> str:
    return forge(claims(settings, user_id), alg="HS512", key=settings.signing_key())


def _real_hs512(settings: Settings, user_id: uuid.UUID) -> str:
    key = settings.signing_key()
    return forge(claims(settings, user_id), alg="HS512", key=key, digest=hashlib.sha512)


def _expired(settings: Settings, user_id: uuid.UUID) -> str:
    past = utcnow() - timedelta(hours=2)
    return issue_token(settings, user_id=user_id, token_type="access", now=past)[0]


def _without(claim: str) -> Callable[[Settings, uuid.UUID], str]:
    def build(settings: Settings, user_id: uuid.UUID) -> str:
        payload = claims(settings, user_id, **{claim: None})
        assert claim not in payload
        return jwt.encode(payload, settings.signing_key(), algorithm="HS256")

    return build


def _with(**changes: Any) -> Callable[[Settings, uuid.UUID], str]:
    def build(settings: Settings, user_id: uuid.UUID) -> str:
        payload = claims(settings, user_id, **changes)
        return jwt.encode(payload, settings.signing_key(), algorithm="HS256")

    return build


def _refresh_token(settings: Settings, user_id: uuid.UUID) -> str:
    return issue_token(settings, user_id=user_id, token_type="refresh", now=utcnow())[0]


def _not_yet_valid(settings: Settings, user_id: uuid.UUID) -> str:
    now = int(time.time())
    return _with(nbf=now + 3600, iat=now, exp=now + 7200)(settings, user_id)


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(_alg_none, id="alg-none"),
        pytest.param(_alg_none_capitalised, id="alg-None"),
        pytest.param(_alg_none_with_signature, id="alg-none-signed"),
        pytest.param(_hs256_unsigned, id="hs256-empty-signature"),
        pytest.param(_other_key, id="other-key"),
        pytest.param(_header_rs256, id="header-rs256-hs256-signature"),
        pytest.param(_header_hs512, id="header-hs512-hs256-signature"),
        pytest.param(_real_hs512, id="hs512"),
        pytest.param(_expired, id="expired"),
        pytest.param(_without("sub"), id="no-sub"),
        pytest.param(_without("exp"), id="no-exp"),
        pytest.param(_without("jti"), id="no-jti"),
        pytest.param(_without("typ"), id="no-typ"),
        pytest.param(_without("iss"), id="no-iss"),
        pytest.param(_without("aud"), id="no-aud"),
        pytest.param(_with(aud="someone-else"), id="wrong-audience"),
        pytest.param(_with(iss="someone-else"), id="wrong-issuer"),
        pytest.param(_with(sub="not-a-uuid"), id="sub-not-a-uuid"),
        pytest.param(_with(typ="admin"), id="unknown-typ"),
        pytest.param(_not_yet_valid, id="not-yet-valid"),
        pytest.param(_refresh_token, id="refresh-token-as-access-token"),
    ],
)
def test_bearer_token_attack_is_a_401(client, build):
    user = register(client)
    token = build(get_settings(), uuid.UUID(user["id"]))

    error(me_with(client, token), 401, "invalid_token")


def test_token_with_a_tampered_payload_is_a_401(client):
    victim = register(client)
    attacker = register(client)
    token = login(client, attacker["username"])["access_token"]
    header, payload, signature = token.split(".")
    claims_ = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims_["sub"] = victim["id"]
    tampered = f"{header}.{b64url(json.dumps(claims_).encode())}.{signature}"

    assert me_with(client, token).get_json()["id"] == attacker["id"]
    error(me_with(client, tampered), 401, "invalid_token")


def test_token_of_a_user_deactivated_after_issue_is_a_401(client, db):
    user, headers = signed_up(client)
    assert client.get("/users/me", headers=headers).status_code == 200

    deactivate(db, user["id"])

    error(client.get("/users/me", headers=headers), 401, "invalid_token")


def test_token_for_a_user_that_does_not_exist_is_a_401(client):
    settings = get_settings()
    token, _ = issue_token(settings, user_id=uuid.uuid4(), token_type="access", now=utcnow())
    error(me_with(client, token), 401, "invalid_token")


# refresh ---------------------------------------------------------------------------------------


def test_refresh_returns_a_new_working_pair_and_marks_the_old_token_used(client, db):
    user = register(client)
    first = login(client, user["username"])

    response = post_refresh(client, first["refresh_token"])

    assert response.status_code == 200, response.get_json()
    second = response.get_json()
    assert set(second) == TOKEN_FIELDS
    assert second["token_type"] == "bearer"
    assert second["expires_in"] == 1800
    assert second["refresh_token"] != first["refresh_token"]
    assert me_with(client, second["access_token"]).get_json()["id"] == user["id"]
    family = {row.token_hash: row for row in family_of(db, first["refresh_token"])}
    old = family[hashlib.sha256(first["refresh_token"].encode()).hexdigest()]
    new = family[hashlib.sha256(second["refresh_token"].encode()).hexdigest()]
    assert old.used_at is not None
    assert new.used_at is None
    assert new.revoked_at is None
    # and the new refresh token rotates in turn
    assert post_refresh(client, second["refresh_token"]).status_code == 200


def test_old_refresh_token_stops_working_after_rotation(client):
    user = register(client)
    first = login(client, user["username"])
    assert post_refresh(client, first["refresh_token"]).status_code == 200

    error(post_refresh(client, first["refresh_token"]), 401, "token_reused")


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(client, db):
    user = register(client)
    first = login(client, user["username"])
    other_session = login(client, user["username"])
    second = post_refresh(client, first["refresh_token"]).get_json()

    error(post_refresh(client, first["refresh_token"]), 401, "token_reused")

    error(post_refresh(client, second["refresh_token"]), 401, "invalid_token")
    assert all(row.revoked_at is not None for row in family_of(db, first["refresh_token"]))
    # another login session of the same user is a different family and survives
    assert post_refresh(client, other_session["refresh_token"]).status_code == 200


def test_access_token_cannot_be_used_as_a_refresh_token(client, db):
    user = register(client)
    tokens = login(client, user["username"])

    error(post_refresh(client, tokens["access_token"]), 401, "invalid_token")
    assert post_refresh(client, tokens["refresh_token"]).status_code == 200


def test_refresh_token_signed_with_another_key_is_a_401(client):
    user = register(client)
    tokens = login(client, user["username"])
    payload = jwt.decode(tokens["refresh_token"], options={"verify_signature": False})

    forged = jwt.encode(payload, secrets.token_bytes(48), algorithm="HS256")

    error(post_refresh(client, forged), 401, "invalid_token")


def test_validly_signed_refresh_token_that_was_never_issued_is_a_401(client):
    user = register(client)
    token, _ = issue_token(
        get_settings(), user_id=uuid.UUID(user["id"]), token_type="refresh", now=utcnow()
    )
    error(post_refresh(client, token), 401, "invalid_token")


def test_refresh_of_a_deactivated_user_is_a_401(client, db):
    user = register(client)
    tokens = login(client, user["username"])
    deactivate(db, user["id"])

    error(post_refresh(client, tokens["refresh_token"]), 401, "invalid_token")


@pytest.mark.parametrize("body", [{}, {"refresh_token": ""}, {"refresh_token": 5}])
def test_refresh_without_a_token_is_a_422(client, body):
    response = client.post("/auth/refresh", json=body)
    body_ = error(response, 422, "validation_error")
    assert locs(body_) == [["body", "refresh_token"]]


# logout ----------------------------------------------------------------------------------------


def test_logout_ends_the_session_of_that_refresh_token(client, db):
    user = register(client)
    tokens = login(client, user["username"])

    response = client.post(
        "/auth/logout",
        json={"refresh_token": tokens["refresh_token"]},
        headers=bearer(tokens["access_token"]),
    )

    assert response.status_code == 204
    assert response.get_data() == b""
    assert all(row.revoked_at is not None for row in family_of(db, tokens["refresh_token"]))
    error(post_refresh(client, tokens["refresh_token"]), 401, "invalid_token")


def test_logout_revokes_the_rotated_successor_too(client):
    user = register(client)
    first = login(client, user["username"])
    second = post_refresh(client, first["refresh_token"]).get_json()

    response = client.post(
        "/auth/logout",
        json={"refresh_token": first["refresh_token"]},
        headers=bearer(second["access_token"]),
    )

    assert response.status_code == 204
    error(post_refresh(client, second["refresh_token"]), 401, "invalid_token")


def test_logout_leaves_other_sessions_of_the_same_user_alone(client):
    user = register(client)
    ending = login(client, user["username"])
    staying = login(client, user["username"])

    response = client.post(
        "/auth/logout",
        json={"refresh_token": ending["refresh_token"]},
        headers=bearer(ending["access_token"]),
    )

    assert response.status_code == 204
    assert post_refresh(client, staying["refresh_token"]).status_code == 200


def test_logout_requires_a_bearer_token(client):
    user = register(client)
    tokens = login(client, user["username"])

    response = client.post("/auth/logout", json={"refresh_token": tokens["refresh_token"]})

    error(response, 401, "missing_token")
    assert post_refresh(client, tokens["refresh_token"]).status_code == 200


def test_logging_out_someone_elses_refresh_token_is_a_401(client, db):
    victim = register(client)
    victim_tokens = login(client, victim["username"])
    _, attacker_headers = signed_up(client)

    response = client.post(
        "/auth/logout",
        json={"refresh_token": victim_tokens["refresh_token"]},
        headers=attacker_headers,
    )

    error(response, 401, "invalid_token")
    assert all(row.revoked_at is None for row in family_of(db, victim_tokens["refresh_token"]))
    assert post_refresh(client, victim_tokens["refresh_token"]).status_code == 200


# brute force -----------------------------------------------------------------------------------


def test_eleventh_login_after_ten_failures_is_a_429_even_with_the_right_password(client, db):
    user = register(client, unique_name("Brute"))
    for _ in range(10):
        error(post_login(client, user["username"], "wrong password!"), 401, "invalid_credentials")
    assert failures_for(db, user["username"].lower()) == 10

    response = post_login(client, user["username"].upper())

    body = error(response, 429, "too_many_attempts")
    assert response.headers["Retry-After"] == "900"
    assert body["details"] == []
    assert failures_for(db, user["username"].lower()) == 10


def test_login_limit_counts_unknown_usernames_too(client, db):
    ghost = unique_name("ghost")
    for _ in range(10):
        error(post_login(client, ghost, "wrong password!"), 401, "invalid_credentials")

    error(post_login(client, ghost, "wrong password!"), 429, "too_many_attempts")
    assert failures_for(db, ghost) == 10


def test_login_limit_is_per_username(client):
    locked = register(client)
    other = register(client)
    for _ in range(10):
        post_login(client, locked["username"], "wrong password!")
    error(post_login(client, locked["username"]), 429, "too_many_attempts")

    response = post_login(client, other["username"])

    assert response.status_code == 200, response.get_json()
    assert set(response.get_json()) == TOKEN_FIELDS


def test_failures_by_username_also_lock_logins_by_email(client):
    user = register(client)
    for _ in range(10):
        post_login(client, user["username"], "wrong password!")

    error(post_login(client, user["email"]), 429, "too_many_attempts")


@pytest.mark.parametrize(
    ("minutes_ago", "status"), [(16, 200), (14, 429)], ids=["outside-window", "inside-window"]
)
def test_only_failures_inside_the_window_count(client, db, minutes_ago, status):
    user = register(client)
    when = utcnow() - timedelta(minutes=minutes_ago)
    db.add_all(
        LoginFailure(username_key=user["username"].lower(), attempted_at=when) for _ in range(10)
    )
    db.flush()

    response = post_login(client, user["username"])

    assert response.status_code == status, response.get_json()
    if status == 429:
        error(response, 429, "too_many_attempts")
    else:
        assert set(response.get_json()) == TOKEN_FIELDS
