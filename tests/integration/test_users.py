"""GET|PATCH /users/me and the admin routes GET /users, GET|PATCH /users/{id}."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import unique_name
from tests.support.api import (
    PASSWORD,
    assert_error,
    bearer,
    login,
    register,
    signed_up,
    signed_up_with_role,
)


def test_me_returns_the_callers_account_without_password_material(client):
    user, headers = signed_up(client)
    body = client.get("/users/me", headers=headers).get_json()
    assert body["id"] == user["id"]
    assert body["username"] == user["username"]
    assert not {"password", "password_hash"} & set(body)


def test_me_updates_email_and_profile(client):
    _, headers = signed_up(client)
    email = f"{unique_name()}@Example.org"
    response = client.patch(
        "/users/me", headers=headers, json={"email": email, "profile": {"bio": "hi"}}
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["email"] == email.split("@")[0] + "@example.org"
    assert client.get("/users/me", headers=headers).get_json()["profile"] == {"bio": "hi"}


@pytest.mark.parametrize(
    "field", [{"role": "admin"}, {"is_active": False}, {"id": str(uuid.uuid4())}, {"x": 1}]
)
def test_me_refuses_fields_a_user_may_not_set(client, field):
    _, headers = signed_up(client)
    body = assert_error(client.patch("/users/me", headers=headers, json=field), 422)
    assert body["details"][0]["loc"] == ["body", next(iter(field))]
    assert client.get("/users/me", headers=headers).get_json()["role"] == "user"


def test_email_taken_by_another_user_in_another_case_is_a_conflict(client):
    other = register(client)
    _, headers = signed_up(client)
    response = client.patch("/users/me", headers=headers, json={"email": other["email"].upper()})
    assert_error(response, 409)


def test_password_change_needs_the_current_password(client):
    user, headers = signed_up(client)
    new = "a brand new passphrase"
    body = assert_error(client.patch("/users/me", headers=headers, json={"password": new}), 422)
    assert "current_password" in body["details"][0]["msg"]
    wrong = client.patch(
        "/users/me", headers=headers, json={"password": new, "current_password": "nope-nope"}
    )
    assert_error(wrong, 401, "wrong_password")
    login(client, user["username"])  # unchanged


def test_password_change_takes_effect_and_ends_refresh_sessions(client):
    user = register(client)
    tokens = login(client, user["username"])
    new = "a brand new passphrase"
    response = client.patch(
        "/users/me",
        headers=bearer(tokens["access_token"]),
        json={"password": new, "current_password": PASSWORD},
    )
    assert response.status_code == 200
    assert_error(
        client.post("/auth/login", json={"username": user["username"], "password": PASSWORD}),
        401,
    )
    login(client, user["username"], new)
    assert_error(client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401)


def test_admin_routes_are_forbidden_to_users_and_moderators(client, db):
    target = register(client)
    _, user_headers = signed_up(client)
    _, mod_headers = signed_up_with_role(client, db, "moderator")
    for headers in (user_headers, mod_headers):
        assert_error(client.get("/users", headers=headers), 403)
        assert_error(client.get(f"/users/{target['id']}", headers=headers), 403)
        assert_error(
            client.patch(f"/users/{target['id']}", headers=headers, json={"role": "admin"}), 403
        )


def test_admin_reads_and_changes_an_account(client, db):
    target = register(client)
    _, headers = signed_up_with_role(client, db, "admin")
    assert client.get(f"/users/{target['id']}", headers=headers).get_json()["id"] == target["id"]
    response = client.patch(f"/users/{target['id']}", headers=headers, json={"role": "moderator"})
    assert response.get_json()["role"] == "moderator"
    assert_error(client.get(f"/users/{uuid.uuid4()}", headers=headers), 404)


def test_deactivated_user_loses_access_at_once(client, db):
    target = register(client)
    tokens = login(client, target["username"])
    _, headers = signed_up_with_role(client, db, "admin")
    client.patch(f"/users/{target['id']}", headers=headers, json={"is_active": False})
    assert_error(client.get("/users/me", headers=bearer(tokens["access_token"])), 401)
    assert_error(client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401)


@pytest.mark.parametrize("change", [{"role": "user"}, {"is_active": False}])
def test_admin_cannot_lock_themselves_out(client, db, change):
    admin, headers = signed_up_with_role(client, db, "admin")
    assert_error(client.patch(f"/users/{admin['id']}", headers=headers, json=change), 409)
    assert client.get("/users/me", headers=headers).get_json()["role"] == "admin"


def test_admin_list_pages_without_gaps_or_repeats_and_filters(client, db):
    _, headers = signed_up_with_role(client, db, "admin")
    tag = uuid.uuid4().hex[:8]
    made = {register(client, f"p{tag}_{i}")["id"] for i in range(7)}
    seen: list[str] = []
    cursor = None
    while True:
        params = {"q": tag, "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/users", headers=headers, query_string=params).get_json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == made
    admins = client.get("/users", headers=headers, query_string={"role": "admin"}).get_json()
    assert all(item["role"] == "admin" for item in admins["items"])


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"cursor": "garbage!"}, {"role": "king"}]
)
def test_admin_list_refuses_bad_paging_and_filters(client, db, params):
    _, headers = signed_up_with_role(client, db, "admin")
    assert_error(client.get("/users", headers=headers, query_string=params), 422)


def test_a_nul_character_in_a_query_is_a_422(client, db):
    _, headers = signed_up_with_role(client, db, "admin")
    assert_error(client.get("/users", headers=headers, query_string={"q": "a\x00b"}), 422)
