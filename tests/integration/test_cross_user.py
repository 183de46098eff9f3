"""User B's token against user A's ids, on every operation of the OpenAPI document that names a
private object: never a success, never a change. Another user's private object is a 404 (it
is not revealed to exist); the admin-only user routes are a 403.

The operations come from the document itself, so a new route is covered (or the test fails
asking for a body to send) without editing this file."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from core.storage.store import LocalArtifactStore
from tests.support.agents import create_agent
from tests.support.api import signed_up

# what B sends where an operation takes a body: valid, so only authorization can refuse it
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/users/{user_id}"): {"role": "admin"},
    ("PATCH", "/agents/{agent_id}"): {"description": "taken over"},
    ("POST", "/agents/{agent_id}/rollback"): {"version": "1.0.0"},
    ("PUT", "/agents/{agent_id}/permissions/{user_id}"): {"level": "edit"},
    ("POST", "/agents/{agent_id}/permissions"): {"username": "taker", "level": "edit"},
    ("POST", "/a2a/agents/{agent_id}"): {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "SendMessage",
        "params": {"message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "hi"}]}},
    },
    ("POST", "/agents/{agent_id}/execute"): {"input": "hi"},
    ("PATCH", "/sessions/{session_id}"): {"title": "taken over"},
    ("POST", "/sessions/{session_id}/messages"): {"content": "hi"},
    # A's agent, with A's session as the thread
    ("POST", "/agents/{agent_id}/ag-ui"): {
        "threadId": "{session_id}",
        "runId": "r1",
        "messages": [{"id": "m1", "role": "user", "content": "hi"}],
    },
    ("POST", "/agents/{agent_id}/schedules"): {"cron": "* * * * *", "input": "hi"},
    ("PATCH", "/schedules/{schedule_id}"): {"enabled": False},
    ("PATCH", "/credentials/{credential_id}"): {"allowed_hosts": ["b.example"]},
    ("PATCH", "/knowledge-bases/{kb_id}"): {"name": "taken-over"},
    ("POST", "/knowledge-bases/{kb_id}/documents"): {"title": "b's", "text": "planted"},
    ("POST", "/knowledge-bases/{kb_id}/query"): {"query": "secret"},
    ("POST", "/agents/{agent_id}/memories"): {"text": "planted"},
    ("PATCH", "/memories/{memory_id}"): {"text": "rewritten"},
    ("POST", "/agents/{agent_id}/eval-sets"): {
        "name": "b's",
        "cases": [{"name": "c", "input": "hi"}],
        "evaluators": [{"type": "equals"}],
    },
    ("PATCH", "/eval-sets/{set_id}"): {"name": "taken over"},
    ("POST", "/agents/{agent_id}/evals"): {"eval_set_id": "{set_id}"},
    ("POST", "/executions/{execution_id}/approvals"): {
        "decisions": [{"tool_call_id": "c1", "approved": True}]
    },
}
PUBLIC_BY_DESIGN = ("/marketplace", "/tasks")  # listings are public; the worker is not a user's


@pytest.fixture
def artifact_store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def owned_by_a(client: Any) -> tuple[dict[str, str], dict[str, str]]:
    """A's headers and the ids of A's private objects, by path parameter."""
    a, headers = signed_up(client)
    agent = create_agent(client, headers)
    session = client.post("/sessions", headers=headers, json={"agent_id": agent["id"]}).get_json()
    turn = client.post(
        f"/sessions/{session['id']}/messages", headers=headers, json={"content": "hello"}
    ).get_json()
    artifact = client.post(
        "/artifacts",
        headers=headers,
        data={"session_id": session["id"], "file": (io.BytesIO(b"secret"), "a.txt")},
        content_type="multipart/form-data",
    ).get_json()
    credential = client.post(
        "/credentials",
        headers=headers,
        json={"name": "k", "value": "secret", "allowed_hosts": ["api.example.com"]},
    ).get_json()
    key = client.post("/api-keys", headers=headers, json={"name": "k", "scope": "read"}).get_json()
    schedule = client.post(
        f"/agents/{agent['id']}/schedules",
        headers=headers,
        json={"cron": "0 9 * * *", "input": "x"},
    ).get_json()
    kb = client.post("/knowledge-bases", headers=headers, json={"name": "kb"}).get_json()
    document = client.post(
        f"/knowledge-bases/{kb['id']}/documents",
        headers=headers,
        json={"title": "secret", "text": "the secret plan"},
    ).get_json()
    memory = client.post(
        f"/agents/{agent['id']}/memories", headers=headers, json={"text": "likes tea"}
    ).get_json()
    eval_set = client.post(
        f"/agents/{agent['id']}/eval-sets",
        headers=headers,
        json={
            "name": "s",
            "cases": [{"name": "c", "input": "x"}],
            "evaluators": [{"type": "equals"}],
        },
    ).get_json()
    started = client.post(
        f"/agents/{agent['id']}/evals", headers=headers, json={"eval_set_id": eval_set["id"]}
    ).get_json()
    ids = {
        "set_id": eval_set["id"],
        "eval_id": started["id"],
        "other_id": started["id"],
        "user_id": a["id"],
        "memory_id": memory["id"],
        "kb_id": kb["id"],
        "document_id": document["id"],
        "agent_id": agent["id"],
        "version": "1.0.0",
        "session_id": session["id"],
        "execution_id": turn["id"],
        "artifact_id": artifact["id"],
        "credential_id": credential["id"],
        "key_id": key["id"],
        "schedule_id": schedule["id"],
    }
    return headers, ids


def operations(client: Any) -> list[tuple[str, str]]:
    document = client.get("/openapi.json").get_json()
    return [
        (method.upper(), path)
        for path, methods in document["paths"].items()
        if "{" in path and not path.startswith(PUBLIC_BY_DESIGN)
        for method in methods
    ]


def test_another_users_token_gets_nothing_from_any_private_object(
    client: Any, artifact_store: Any
) -> None:
    a_headers, ids = owned_by_a(client)
    _, b_headers = signed_up(client)
    before = {
        "agent": client.get(f"/agents/{ids['agent_id']}", headers=a_headers).get_json(),
        "session": client.get(f"/sessions/{ids['session_id']}", headers=a_headers).get_json(),
        "execution": client.get(f"/executions/{ids['execution_id']}", headers=a_headers).get_json(),
        "artifact": client.get(f"/artifacts/{ids['artifact_id']}", headers=a_headers).get_json(),
        "credentials": client.get("/credentials", headers=a_headers).get_json(),
        "schedule": client.get(f"/schedules/{ids['schedule_id']}", headers=a_headers).get_json(),
        "knowledge": client.get(
            f"/knowledge-bases/{ids['kb_id']}/documents", headers=a_headers
        ).get_json(),
    }

    answers: dict[str, int] = {}
    checked = operations(client)
    for method, path in checked:
        url = path.format(**ids)
        body = BODIES.get((method, path))
        if body is not None:  # "{session_id}" and the like name A's objects in bodies too
            body = {k: v.format(**ids) if isinstance(v, str) else v for k, v in body.items()}
        if body is None and method in ("POST", "PUT", "PATCH") and "cancel" not in path:
            pytest.fail(f"{method} {path} takes a body: add one to BODIES")
        response = client.open(url, method=method, headers=b_headers, json=body)
        answers[f"{method} {path}"] = response.status_code
        assert set(response.get_json() or {}) <= {"error"}, (method, path)

    assert len(checked) >= 20
    expected = {op: 403 if "/users/" in op else 404 for op in answers}
    assert answers == expected
    after = {
        "agent": client.get(f"/agents/{ids['agent_id']}", headers=a_headers).get_json(),
        "session": client.get(f"/sessions/{ids['session_id']}", headers=a_headers).get_json(),
        "execution": client.get(f"/executions/{ids['execution_id']}", headers=a_headers).get_json(),
        "artifact": client.get(f"/artifacts/{ids['artifact_id']}", headers=a_headers).get_json(),
        "credentials": client.get("/credentials", headers=a_headers).get_json(),
        "schedule": client.get(f"/schedules/{ids['schedule_id']}", headers=a_headers).get_json(),
        "knowledge": client.get(
            f"/knowledge-bases/{ids['kb_id']}/documents", headers=a_headers
        ).get_json(),
    }
    assert after == before  # nothing changed: no partial write either
    assert client.get(f"/agents/{ids['agent_id']}/permissions", headers=a_headers).get_json() == []
