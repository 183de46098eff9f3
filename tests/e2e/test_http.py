"""The one-process server over real HTTP."""

from __future__ import annotations

import uuid

from tests.support.api import PASSWORD


def _error(response, status, code):
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert "Traceback" not in response.text


def test_register_login_me_refresh_logout(http):
    name = f"e2e_{uuid.uuid4().hex[:8]}"
    created = http.post(
        "/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
    )
    assert created.status_code == 201
    assert "password" not in created.text

    tokens = http.post("/auth/login", json={"username": name.upper(), "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert http.get("/users/me", headers=headers).json()["username"] == name

    rotated = http.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200
    _error(
        http.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}),
        401,
        "token_reused",
    )
    # reuse ended the whole family, including the token the rotation handed out
    _error(
        http.post("/auth/refresh", json={"refresh_token": rotated.json()["refresh_token"]}),
        401,
        "invalid_token",
    )


def test_contract_errors_over_the_wire(http):
    _error(
        http.post("/auth/login", data=b"{oops", headers={"Content-Type": "application/json"}),
        400,
        "malformed_json",
    )
    _error(
        http.post(
            "/auth/register",
            data=b"x" * (3 * 1024 * 1024),
            headers={"Content-Type": "application/json"},
        ),
        413,
        "payload_too_large",
    )
    _error(http.get("/users/me"), 401, "missing_token")
    _error(http.get("/nowhere"), 404, "not_found")
    _error(http.get("/users?limit=0", headers={"Authorization": "Bearer x"}), 401, "invalid_token")


def test_openapi_and_docs_are_served(http):
    document = http.get("/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert "/auth/login" in document["paths"]
    docs = http.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    assert http.get("/docs/static/swagger-ui-bundle.js").status_code == 200
    # the page is never framed, runs scripts of its own origin only (no inline one), and keeps
    # the token a user authorizes with out of localStorage
    policy = docs.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self';" in policy
    assert docs.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in docs.text
    init = http.get("/docs/init.js")
    assert "persistAuthorization: false" in init.text


def test_an_async_execution_reaches_succeeded_through_the_local_worker(http):
    import time

    name = f"e2e_{uuid.uuid4().hex[:8]}"
    http.post(
        "/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
    )
    token = http.post("/auth/login", json={"username": name, "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    agent = http.post(
        "/agents",
        headers=headers,
        json={
            "name": "async-e2e",
            "display_name": "Async",
            "definition": {"model": {"provider": "test", "name": "test"}},
        },
    ).json()
    accepted = http.post(
        f"/agents/{agent['id']}/execute", headers=headers, json={"input": "hi", "mode": "async"}
    )
    assert accepted.status_code == 202
    location = accepted.headers["Location"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        execution = http.get(location, headers=headers).json()
        if execution["status"] not in ("queued", "running"):
            break
        time.sleep(0.1)
    assert execution["status"] == "succeeded", execution
    stream = http.get(
        f"{location}/events", headers={**headers, "Accept": "text/event-stream"}, timeout=30
    )
    assert "event: end" in stream.text


def test_secrets_are_never_cached_and_nothing_is_sniffed(http):
    from tests.conftest import unique_name

    name = unique_name()
    body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    registered = http.post("/auth/register", json=body)
    assert registered.headers["X-Content-Type-Options"] == "nosniff"
    login = http.post("/auth/login", json={"username": name, "password": PASSWORD})
    assert login.headers["Cache-Control"] == "no-store"
    tokens = login.json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    refreshed = http.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.headers["Cache-Control"] == "no-store"
    key = http.post("/api-keys", json={"name": "k", "scope": "read"}, headers=auth)
    assert key.status_code == 201
    assert key.headers["Cache-Control"] == "no-store"
    secret = http.get("/users/me/webhook-secret", headers=auth)
    assert secret.headers["Cache-Control"] == "no-store"
    for answer in (key, secret, http.get("/health"), http.get("/no/such/route")):
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in registered.headers  # plain http here
    behind_tls = http.get("/health", headers={"X-Forwarded-Proto": "https"})
    assert behind_tls.headers["Strict-Transport-Security"].startswith("max-age=31536000")
