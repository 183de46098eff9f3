"""A caller of the protocol adapters (A2A, MCP) as a client program is one: a fresh user with an
`execute` API key, and agents of theirs on the offline test models."""

from __future__ import annotations

import uuid
from typing import Any

PASSWORD = "correct horse battery"


def user_with_key(http: Any) -> tuple[dict[str, str], str]:
    """A new user's bearer headers and their `execute` API key."""
    name = f"proto_{uuid.uuid4().hex[:8]}"
    user = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    assert http.post("/auth/register", json=user).status_code == 201
    token = http.post("/auth/login", json={"username": name, "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    key = http.post("/api-keys", json={"name": "client", "scope": "execute"}, headers=headers)
    return headers, str(key.json()["key"])


def agent(http: Any, headers: dict[str, str], name: str, **definition: Any) -> dict[str, Any]:
    """A new agent of that user (the test-echo model unless `definition` says otherwise)."""
    made = http.post(
        "/agents",
        json={
            "name": name,
            "display_name": name.title(),
            "description": f"the {name} agent",
            "definition": {"model": {"provider": "test", "name": "test-echo"}} | definition,
        },
        headers=headers,
    )
    assert made.status_code == 201, made.text
    return dict(made.json())
