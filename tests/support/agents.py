"""Helpers for tests that create and run agents through the API."""

from __future__ import annotations

from typing import Any

from tests.conftest import unique_name


def definition(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": {"provider": "test", "name": "test"},
        "system_prompt": "be brief",
    }
    return base | changes


def tools(*names: str) -> list[dict[str, Any]]:
    return [{"name": name, "enabled": True, "config": {}} for name in names]


def create_agent(client: Any, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {
        "name": unique_name("agent"),
        "display_name": "Test agent",
        "definition": definition(),
    } | fields
    response = client.post("/agents", headers=headers, json=body)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def execute(client: Any, headers: dict[str, str], agent_id: str, **body: Any) -> Any:
    return client.post(
        f"/agents/{agent_id}/execute", headers=headers, json={"input": "hello"} | body
    )


def events_of(client: Any, headers: dict[str, str], execution_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/executions/{execution_id}/events", headers=headers)
    assert response.status_code == 200, response.get_json()
    return list(response.get_json()["items"])
