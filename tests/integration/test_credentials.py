"""Credentials: stored sealed, listed without values, deleted; each user sees only their own."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from core.config import get_settings
from core.models.credentials import Credential
from core.sealing import credential_context, sealing_key
from core.services.credentials import CredentialMissing, open_credentials
from tests.support.api import assert_error, signed_up

SECRET = "ghp_the-secret-value-1234567890"


def test_a_credential_is_stored_sealed_and_never_returned(client: Any, db: Any) -> None:
    _user, headers = signed_up(client)
    created = client.post("/credentials", json={"name": "github", "value": SECRET}, headers=headers)
    assert created.status_code == 201
    body = created.get_json()
    assert set(body) == {"id", "name", "created_at", "last_used_at"}
    assert body["name"] == "github"
    assert body["last_used_at"] is None
    listed = client.get("/credentials", headers=headers)
    assert [c["name"] for c in listed.get_json()["items"]] == ["github"]
    assert SECRET not in created.get_data(as_text=True) + listed.get_data(as_text=True)
    row = db.scalar(select(Credential).where(Credential.id == uuid.UUID(body["id"])))
    assert SECRET.encode() not in row.sealed_value
    key = sealing_key(get_settings())
    assert key.open(row.sealed_value, credential_context(row.user_id, "github")) == SECRET


def test_a_sealed_value_moved_to_another_owner_or_name_does_not_open(client: Any, db: Any) -> None:
    from core.sealing import CannotOpen

    key = sealing_key(get_settings())
    sealed = key.seal(SECRET, credential_context("a", "github"))
    for context in (credential_context("b", "github"), credential_context("a", "gitlab")):
        with pytest.raises(CannotOpen):
            key.open(sealed, context)


def test_names_are_unique_per_user_and_checked(client: Any) -> None:
    _, headers = signed_up(client)
    _, other = signed_up(client)
    assert (
        client.post("/credentials", json={"name": "k", "value": "1"}, headers=headers).status_code
        == 201
    )
    assert_error(
        client.post("/credentials", json={"name": "k", "value": "2"}, headers=headers),
        409,
        "credential_exists",
    )
    # another user may use the same name
    assert (
        client.post("/credentials", json={"name": "k", "value": "3"}, headers=other).status_code
        == 201
    )
    for bad in (
        {"name": "1abc", "value": "x"},
        {"name": "k k", "value": "x"},
        {"name": "k"},
        {"name": "ok", "value": ""},
    ):
        assert_error(client.post("/credentials", json=bad, headers=headers), 422)


def test_a_strangers_credential_is_invisible_and_cannot_be_deleted(client: Any) -> None:
    _, owner = signed_up(client)
    _, stranger = signed_up(client)
    cid = client.post(
        "/credentials", json={"name": "k", "value": SECRET}, headers=owner
    ).get_json()["id"]
    assert client.get("/credentials", headers=stranger).get_json()["items"] == []
    assert_error(
        client.delete(f"/credentials/{cid}", headers=stranger), 404, "credential_not_found"
    )
    assert client.delete(f"/credentials/{cid}", headers=owner).status_code == 204
    assert_error(client.delete(f"/credentials/{cid}", headers=owner), 404)


def test_opening_marks_use_and_names_every_missing_one(client: Any, db: Any) -> None:
    from datetime import UTC, datetime

    user, headers = signed_up(client)
    client.post("/credentials", json={"name": "a", "value": "va"}, headers=headers)
    now = datetime.now(UTC)
    user_id = uuid.UUID(user["id"])
    values = open_credentials(db, user_id=user_id, names=["a"], settings=get_settings(), now=now)
    assert values == {"a": "va"}
    assert client.get("/credentials", headers=headers).get_json()["items"][0]["last_used_at"]
    with pytest.raises(CredentialMissing) as missing:
        open_credentials(
            db, user_id=user_id, names=["a", "b", "c"], settings=get_settings(), now=now
        )
    assert missing.value.names == ["b", "c"]
