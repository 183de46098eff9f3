"""The console's login session: the refresh token in an HttpOnly, Secure, SameSite=Strict cookie
for /auth/console only, rotated at each refresh, ended by sign-out; its routes want the
X-Agents-Console header (CSRF); the bearer routes API clients use are unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import PASSWORD, assert_error, signed_up

CONSOLE = {"X-Agents-Console": "1"}


def cookie_of(response: Any) -> tuple[str, str]:
    """The session cookie's value and its attributes, as set."""
    [header] = response.headers.getlist("Set-Cookie")
    pair, _, attributes = header.partition("; ")
    name, _, value = pair.partition("=")
    assert name == "agents_refresh"
    return value, attributes


@pytest.fixture
def client(app: Any) -> Any:
    """Without a cookie jar: each request sends the cookie it names (a kept copy included)."""
    return app.test_client(use_cookies=False)


def login(client: Any, user: dict[str, Any]) -> Any:
    body = {"username": user["username"], "password": PASSWORD}
    return client.post("/auth/console/login", headers=CONSOLE, json=body)


def refresh(client: Any, cookie: str, headers: dict[str, str] = CONSOLE) -> Any:
    return client.post(
        "/auth/console/refresh", headers={**headers, "Cookie": f"agents_refresh={cookie}"}
    )


def test_the_console_signs_in_with_its_refresh_token_in_a_cookie_scripts_cannot_read(client):
    user, _ = signed_up(client)
    signed_in = login(client, user)
    assert signed_in.status_code == 200, signed_in.get_json()
    body = signed_in.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in"}  # no refresh token
    cookie, attributes = cookie_of(signed_in)
    assert attributes.split("; ") == [
        "Max-Age=1209600",
        "Path=/auth/console",
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
    ]
    assert cookie not in signed_in.get_data(as_text=True)
    assert signed_in.headers["Cache-Control"] == "no-store"
    me = client.get("/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.get_json()["username"] == user["username"]


def test_a_reload_refreshes_through_the_cookie_which_rotates_and_a_replayed_one_ends_it(client):
    user, _ = signed_up(client)
    first, _ = cookie_of(login(client, user))
    renewed = refresh(client, first)
    assert renewed.status_code == 200, renewed.get_json()
    second, _ = cookie_of(renewed)
    assert second != first
    assert refresh(client, second).status_code == 200
    # the first cookie again (a copy someone kept): the whole session ends
    assert_error(refresh(client, first), 401, "token_reused")
    assert_error(refresh(client, second), 401)


def test_without_the_console_header_nothing_is_done(client):
    """What a page of another site could make a browser send (a form, a link) has no such
    header: it neither signs in nor refreshes nor signs out."""
    user, _ = signed_up(client)
    cookie, _ = cookie_of(login(client, user))
    body = {"username": user["username"], "password": PASSWORD}
    assert_error(client.post("/auth/console/login", json=body), 403, "console_header_missing")
    assert_error(refresh(client, cookie, headers={}), 403, "console_header_missing")
    out = client.post("/auth/console/logout", headers={"Cookie": f"agents_refresh={cookie}"})
    assert_error(out, 403, "console_header_missing")
    assert refresh(client, cookie).status_code == 200  # still signed in
    assert_error(client.post("/auth/console/refresh", headers=CONSOLE), 401, "missing_token")


def test_sign_out_clears_the_cookie_and_ends_the_session(client):
    user, _ = signed_up(client)
    cookie, _ = cookie_of(login(client, user))
    out = client.post(
        "/auth/console/logout", headers={**CONSOLE, "Cookie": f"agents_refresh={cookie}"}
    )
    assert out.status_code == 204
    value, attributes = cookie_of(out)
    assert (value, attributes.split("; ")[0]) == ("", "Max-Age=0")
    assert_error(refresh(client, cookie), 401)
    # signing out twice, or without a session, is fine
    again = client.post("/auth/console/logout", headers=CONSOLE)
    assert again.status_code == 204
    # another cookie of the site, and no session cookie, is no session either
    other = client.post("/auth/console/logout", headers={**CONSOLE, "Cookie": "theme=dark"})
    assert other.status_code == 204


def test_api_clients_keep_their_bearer_token_pair(client):
    user, _ = signed_up(client)
    body = {"username": user["username"], "password": PASSWORD}
    pair = client.post("/auth/login", json=body)
    assert set(pair.get_json()) >= {"access_token", "refresh_token"}
    assert "Set-Cookie" not in pair.headers
