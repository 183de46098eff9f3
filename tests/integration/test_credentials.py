"""Credentials: stored sealed with the hosts they may go to, listed without values, changed,
deleted; each user sees only their own."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from core.config import get_settings
from core.credentials import CredentialMissing, open_credentials
from core.models.credentials import Credential
from core.sealing import credential_context, sealing_key
from tests.support.api import assert_error, signed_up

SECRET = "ghp_the-secret-value-1234567890"
HOSTS = ["api.github.com"]


def new_credential(client: Any, headers: dict[str, str], name: str, value: str) -> Any:
    return client.post(
        "/credentials", json={"name": name, "value": value, "allowed_hosts": HOSTS}, headers=headers
    )


def test_a_credential_is_stored_sealed_and_never_returned(client: Any, db: Any) -> None:
    _user, headers = signed_up(client)
    created = new_credential(client, headers, "github", SECRET)
    assert created.status_code == 201
    body = created.get_json()
    assert set(body) == {
        "id",
        "name",
        "allowed_hosts",
        "created_at",
        "last_used_at",
        "notice",
        "sent_to",
    }
    assert (body["name"], body["allowed_hosts"]) == ("github", HOSTS)
    assert (body["last_used_at"], body["notice"], body["sent_to"]) == (None, None, [])
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
    assert new_credential(client, headers, "k", "1").status_code == 201
    assert_error(new_credential(client, headers, "k", "2"), 409, "credential_exists")
    # another user may use the same name
    assert new_credential(client, other, "k", "3").status_code == 201
    for bad in (
        {"name": "1abc", "value": "x", "allowed_hosts": HOSTS},
        {"name": "k k", "value": "x", "allowed_hosts": HOSTS},
        {"name": "k", "allowed_hosts": HOSTS},
        {"name": "ok", "value": "", "allowed_hosts": HOSTS},
        # where it may be sent is said when it is made
        {"name": "ok", "value": "x"},
        {"name": "ok", "value": "x", "allowed_hosts": []},
        {"name": "ok", "value": "x", "allowed_hosts": ["https://api.github.com"]},
        {"name": "ok", "value": "x", "allowed_hosts": ["api.github.com/path"]},
        {"name": "ok", "value": "x", "allowed_hosts": ["*"]},
        {"name": "ok", "value": "x", "allowed_hosts": ["a.*.com"]},
        {"name": "ok", "value": "x", "allowed_hosts": ["host:443"]},
    ):
        assert_error(client.post("/credentials", json=bad, headers=headers), 422)


def test_a_strangers_credential_is_invisible_and_cannot_be_deleted(client: Any) -> None:
    _, owner = signed_up(client)
    _, stranger = signed_up(client)
    cid = new_credential(client, owner, "k", SECRET).get_json()["id"]
    assert client.get("/credentials", headers=stranger).get_json()["items"] == []
    for response in (
        client.get(f"/credentials/{cid}", headers=stranger),
        client.patch(f"/credentials/{cid}", json={"allowed_hosts": ["x.io"]}, headers=stranger),
        client.delete(f"/credentials/{cid}", headers=stranger),
    ):
        assert_error(response, 404, "credential_not_found")
    assert client.delete(f"/credentials/{cid}", headers=owner).status_code == 204
    assert_error(client.delete(f"/credentials/{cid}", headers=owner), 404)


def test_opening_names_every_missing_one_and_marks_nothing_used(client: Any, db: Any) -> None:
    user, headers = signed_up(client)
    new_credential(client, headers, "a", "va")
    user_id = uuid.UUID(user["id"])
    opened = open_credentials(db, user_id=user_id, names=["a"], settings=get_settings())
    assert (opened["a"].value, opened["a"].allowed_hosts) == ("va", ("api.github.com",))
    assert (
        client.get("/credentials", headers=headers).get_json()["items"][0]["last_used_at"] is None
    )
    with pytest.raises(CredentialMissing) as missing:
        open_credentials(db, user_id=user_id, names=["a", "b", "c"], settings=get_settings())
    assert missing.value.names == ["b", "c"]


def test_hosts_and_value_are_changed_by_patch(client: Any, db: Any) -> None:
    _, headers = signed_up(client)
    cid = new_credential(client, headers, "gh", SECRET).get_json()["id"]
    changed = client.patch(
        f"/credentials/{cid}",
        json={"allowed_hosts": ["API.GitHub.com.", "*.githubusercontent.com", "api.github.com"]},
        headers=headers,
    )
    assert changed.status_code == 200, changed.get_json()
    # compared as hosts are: lower case, no trailing dot, each once
    assert changed.get_json()["allowed_hosts"] == ["api.github.com", "*.githubusercontent.com"]
    replaced = client.patch(f"/credentials/{cid}", json={"value": "new-secret"}, headers=headers)
    assert replaced.status_code == 200
    assert "new-secret" not in replaced.get_data(as_text=True)
    row = db.get(Credential, uuid.UUID(cid))
    db.refresh(row)
    key = sealing_key(get_settings())
    assert key.open(row.sealed_value, credential_context(row.user_id, "gh")) == "new-secret"
    for bad in ({"allowed_hosts": []}, {"allowed_hosts": None}, {"value": ""}, {"name": "x"}):
        assert_error(client.patch(f"/credentials/{cid}", json=bad, headers=headers), 422)
    assert client.get(f"/credentials/{cid}", headers=headers).get_json()["allowed_hosts"] == [
        "api.github.com",
        "*.githubusercontent.com",
    ]


def test_a_credential_made_before_hosts_existed_is_sent_nowhere_and_says_so(
    client: Any, db: Any
) -> None:
    """Credentials stored before migration 0016 name no hosts: the API says so until their owner
    names some."""
    _, headers = signed_up(client)
    cid = new_credential(client, headers, "old", SECRET).get_json()["id"]
    row = db.get(Credential, uuid.UUID(cid))
    row.allowed_hosts = []  # what the migration leaves on an existing row
    db.flush()
    listed = client.get("/credentials", headers=headers).get_json()["items"][0]
    assert listed["allowed_hosts"] == []
    assert "no run sends it anywhere" in listed["notice"]
    assert f"PATCH /credentials/{cid}" in listed["notice"]
    fixed = client.patch(f"/credentials/{cid}", json={"allowed_hosts": HOSTS}, headers=headers)
    assert fixed.get_json()["notice"] is None


@pytest.mark.parametrize(
    ("host", "patterns", "allowed"),
    [
        ("api.github.com", ["api.github.com"], True),
        ("API.GITHUB.COM.", ["api.github.com"], True),
        ("evil.example", ["api.github.com"], False),
        ("api.github.com.evil.example", ["api.github.com"], False),
        ("a.example.com", ["*.example.com"], True),
        ("a.b.example.com", ["*.example.com"], True),
        ("example.com", ["*.example.com"], False),
        ("evilexample.com", ["*.example.com"], False),
        ("127.0.0.1", ["127.0.0.1"], True),
        ("::1", ["[::1]"], True),
        ("localhost", ["127.0.0.1"], False),
        ("anything", [], False),
    ],
)
def test_which_hosts_a_credential_goes_to(host: str, patterns: list[str], allowed: bool) -> None:
    from core.egress import host_allowed

    assert host_allowed(host, patterns) is allowed


KEY_A = "a" * 40
KEY_B = "b" * 40


def test_a_rotated_key_still_opens_with_the_old_one_and_seals_again(
    client: Any, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.config import reset_settings

    user, headers = signed_up(client)
    user_id = uuid.UUID(user["id"])
    monkeypatch.setenv("CREDENTIALS_KEY", KEY_A)
    reset_settings()
    cid = new_credential(client, headers, "gh", SECRET).get_json()["id"]
    sealed_a = db.get(Credential, uuid.UUID(cid)).key_id

    # rotated: B seals, A still opens (and the value is sealed again under B as it is read)
    monkeypatch.setenv("CREDENTIALS_KEY", KEY_B)
    monkeypatch.setenv("CREDENTIALS_OLD_KEYS", KEY_A)
    reset_settings()
    assert client.get("/credentials", headers=headers).get_json()["items"][0]["notice"] is None
    opened = open_credentials(db, user_id=user_id, names=["gh"], settings=get_settings())
    assert opened["gh"].value == SECRET
    row = db.get(Credential, uuid.UUID(cid))
    db.refresh(row)
    assert row.key_id != sealed_a
    assert row.key_id == sealing_key(get_settings()).key_id

    # A retired: the value opens with B alone
    monkeypatch.delenv("CREDENTIALS_OLD_KEYS")
    reset_settings()
    assert open_credentials(db, user_id=user_id, names=["gh"], settings=get_settings())


def test_a_value_no_key_opens_is_unreadable_not_missing(
    client: Any, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.config import reset_settings
    from core.credentials import CredentialUnreadable

    user, headers = signed_up(client)
    monkeypatch.setenv("CREDENTIALS_KEY", KEY_A)
    reset_settings()
    cid = new_credential(client, headers, "gh", SECRET).get_json()["id"]
    monkeypatch.setenv("CREDENTIALS_KEY", KEY_B)  # A is gone, and not among the old keys
    reset_settings()
    with pytest.raises(CredentialUnreadable) as unreadable:
        open_credentials(db, user_id=uuid.UUID(user["id"]), names=["gh"], settings=get_settings())
    assert unreadable.value.names == ["gh"]
    listed = client.get("/credentials", headers=headers).get_json()["items"][0]
    assert "can no longer be read" in listed["notice"]
    assert f"PATCH /credentials/{cid}" in listed["notice"]
    # its owner stores the value again: readable under the current key
    client.patch(f"/credentials/{cid}", json={"value": "fresh"}, headers=headers)
    opened = open_credentials(
        db, user_id=uuid.UUID(user["id"]), names=["gh"], settings=get_settings()
    )
    assert opened["gh"].value == "fresh"


def test_reseal_credentials_seals_every_value_under_the_current_key(
    client: Any, engine: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from core.cli import main
    from core.config import reset_settings
    from core.db import transaction

    monkeypatch.setenv("CREDENTIALS_KEY", KEY_A)
    reset_settings()
    user, headers = signed_up(client)
    for name in ("one", "two"):
        new_credential(client, headers, name, SECRET)
    monkeypatch.setenv("CREDENTIALS_KEY", KEY_B)
    monkeypatch.setenv("CREDENTIALS_OLD_KEYS", f"{KEY_A},{'c' * 40}")
    reset_settings()
    main(["reseal-credentials"])
    counts = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert counts["resealed"] >= 2
    current = sealing_key(get_settings()).key_id
    with transaction() as db:
        keys = db.scalars(
            select(Credential.key_id).where(Credential.user_id == uuid.UUID(user["id"]))
        ).all()
    assert set(keys) == {current}
