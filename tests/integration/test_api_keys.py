"""API keys: made and shown once, stored as a hash, used as a bearer; scopes (read, execute,
full) limit the routes; a key never manages keys or the password; deleting a key, expiring it
or deactivating its user refuses it from the next request on (on the execute path too, where
the check rides in the statement that starts the run)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from core.models.users import ApiKey, User
from core.services.api_keys import known_keys
from tests.support.agents import create_agent
from tests.support.api import assert_error, signed_up


def make_key(client: Any, headers: dict[str, str], scope: str, **fields: Any) -> dict[str, Any]:
    response = client.post(
        "/api-keys", headers=headers, json={"name": f"{scope} key", "scope": scope} | fields
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def bearer(key: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {key['key']}"}


def test_a_key_is_shown_once_and_stored_as_a_hash(client, db):
    _, headers = signed_up(client)
    made = make_key(client, headers, "full")
    assert made["key"].startswith(f"ak_{made['prefix']}_")
    listed = client.get("/api-keys", headers=headers).get_json()["items"]
    assert [k["id"] for k in listed] == [made["id"]]
    assert "key" not in listed[0]
    row = db.scalar(select(ApiKey).where(ApiKey.id == uuid.UUID(made["id"])))
    assert row.key_hash == hashlib.sha256(made["key"].encode()).digest()
    assert made["key"].encode() not in repr(row.__dict__).encode()


def test_a_key_acts_as_its_user_and_records_its_use(client, db):
    user, headers = signed_up(client)
    key = make_key(client, headers, "full")
    me = client.get("/users/me", headers=bearer(key))
    assert me.status_code == 200
    assert me.get_json()["id"] == user["id"]
    used = client.get("/api-keys", headers=headers).get_json()["items"][0]["last_used_at"]
    assert used is not None


def test_scopes_limit_the_routes(client):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    read, execute = make_key(client, headers, "read"), make_key(client, headers, "execute")
    assert client.get(f"/agents/{agent['id']}", headers=bearer(read)).status_code == 200
    run = client.post(f"/agents/{agent['id']}/execute", headers=bearer(read), json={"input": "hi"})
    assert_error(run, 403, "api_key_scope")
    run = client.post(
        f"/agents/{agent['id']}/execute", headers=bearer(execute), json={"input": "hi"}
    )
    assert run.status_code == 200, run.get_json()
    assert run.get_json()["status"] == "succeeded"
    # editing the agent needs full
    patch = client.patch(
        f"/agents/{agent['id']}", headers=bearer(execute), json={"description": "x"}
    )
    assert_error(patch, 403, "api_key_scope")


def test_a_key_never_manages_keys_or_the_password(client):
    _, headers = signed_up(client)
    full = make_key(client, headers, "full")
    for method, path, body in (
        ("POST", "/api-keys", {"name": "k", "scope": "read"}),
        ("GET", "/api-keys", None),
        ("DELETE", f"/api-keys/{full['id']}", None),
        ("PATCH", "/users/me", {"password": "another one!", "current_password": "x" * 12}),
    ):
        response = client.open(path, method=method, headers=bearer(full), json=body)
        assert_error(response, 403)
    # a full key may change the rest of the account
    changed = client.patch("/users/me", headers=bearer(full), json={"profile": {"team": "a"}})
    assert changed.status_code == 200


def test_a_deleted_key_is_refused_on_the_next_request_even_where_it_is_known(client):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    key = make_key(client, headers, "execute")
    ok = client.post(f"/agents/{agent['id']}/execute", headers=bearer(key), json={"input": "a"})
    assert ok.status_code == 200  # this instance now knows the key
    assert client.delete(f"/api-keys/{key['id']}", headers=headers).status_code == 204
    for response in (
        client.post(f"/agents/{agent['id']}/execute", headers=bearer(key), json={"input": "b"}),
        client.get("/users/me", headers=bearer(key)),
    ):
        assert_error(response, 401)
    runs = client.get(f"/executions?agent_id={agent['id']}", headers=headers).get_json()
    assert [r["input"] for r in runs["items"]] == ["a"]


def test_an_expired_key_and_a_deactivated_users_key_are_refused(client, db):
    user, headers = signed_up(client)
    key = make_key(client, headers, "read", expires_in_days=30)
    expires = datetime.fromisoformat(key["expires_at"])
    assert timedelta(days=30) - timedelta(minutes=1) < expires - datetime.now(UTC)
    assert expires - datetime.now(UTC) <= timedelta(days=30)
    assert client.get("/users/me", headers=bearer(key)).status_code == 200
    db.execute(
        update(ApiKey)
        .where(ApiKey.id == uuid.UUID(key["id"]))
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    known_keys.clear()
    assert_error(client.get("/users/me", headers=bearer(key)), 401, "api_key_expired")

    other = make_key(client, headers, "full")
    assert client.get("/users/me", headers=bearer(other)).status_code == 200
    db.execute(update(User).where(User.id == uuid.UUID(user["id"])).values(is_active=False))
    assert_error(client.get("/users/me", headers=bearer(other)), 401)


def test_bad_keys_and_bodies(client):
    _, headers = signed_up(client)
    for token in ("ak_nothing", "ak_12345678_" + "x" * 43):
        assert_error(client.get("/users/me", headers={"Authorization": f"Bearer {token}"}), 401)
    for body in (
        {"name": "k", "scope": "admin"},
        {"name": "", "scope": "read"},
        {"name": "k", "scope": "read", "expires_in_days": 0},
        {"name": "k", "scope": "read", "expires_in_days": 3651},
        {"name": "k", "scope": "read", "expires_in_days": None},
        {"name": "k", "scope": "read", "expires_at": "2030-01-01T00:00:00Z"},  # a lifetime now
    ):
        assert_error(client.post("/api-keys", headers=headers, json=body), 422)


def test_someone_elses_key_is_a_404(client):
    _, owner = signed_up(client)
    key = make_key(client, owner, "read")
    _, stranger = signed_up(client)
    assert_error(client.delete(f"/api-keys/{key['id']}", headers=stranger), 404)
    assert client.get("/api-keys", headers=stranger).get_json()["items"] == []
    assert client.get("/users/me", headers=bearer(key)).status_code == 200
