"""Small helpers for talking to the API through a Flask test client."""

from __future__ import annotations

from typing import Any

from tests.conftest import unique_name

PASSWORD = "correct horse battery"


def register(client: Any, username: str | None = None, password: str = PASSWORD) -> dict[str, Any]:
    username = username or unique_name()
    response = client.post(
        "/auth/register",
        json={"username": username, "email": f"{username}@example.com", "password": password},
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def login(client: Any, username: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed_up(client: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """A fresh user and the headers that authenticate as them."""
    user = register(client)
    tokens = login(client, user["username"])
    return user, bearer(tokens["access_token"])


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.get_json()
    assert set(body) == {"error"}
    assert {"code", "message", "details"} <= set(body["error"])
    if code is not None:
        assert body["error"]["code"] == code, body
    return dict(body["error"])


def signed_up_with_role(client: Any, db: Any, role: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A fresh user promoted straight in the database (the test's transaction) to `role`."""
    import uuid

    from core.models.users import Role, User

    user, headers = signed_up(client)
    row = db.get(User, uuid.UUID(user["id"]))
    row.role = Role(role)
    db.flush()
    return {**user, "role": role}, headers
