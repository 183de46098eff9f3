"""The contract fuzzed with what schemathesis's defaults never send (its generated strings are
encodable text): every operation of /openapi.json gets, in each top-level body field and query
parameter, a lone surrogate, numbers beyond any column (1e400, 2^70, -2^70) and tzdata's folder
names. Whatever it answers, it is never a 5xx and always the error body."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.test_faults import new_agent, signed_up

HOSTILE_JSON = ['"\\ud800"', '"\\udfff tail"', "1e400", str(2**70), str(-(2**70)), '"America"']
HOSTILE_QUERY = ["%ED%A0%80", "1e400", str(2**70), "-" + str(2**70), "Etc"]


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete") and not path.startswith("/tasks")
    ]


def body_fields(document: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    content = (operation.get("requestBody") or {}).get("content", {})
    schema = (content.get("application/json") or {}).get("schema")
    if not schema:
        return []
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return sorted(schema.get("properties", {}))


@pytest.mark.slow
def test_hostile_values_in_every_field_never_answer_5xx(http: Any) -> None:
    headers = signed_up(http.url)
    agent = new_agent(http.url, headers)
    session = http.post("/sessions", json={"agent_id": agent}, headers=headers).json()
    run = http.post(f"/agents/{agent}/execute", json={"input": "hi"}, headers=headers).json()
    ids = {
        "agent_id": agent,
        "session_id": session["id"],
        "execution_id": run["id"],
        "user_id": session["user_id"] if "user_id" in session else run["id"],
    }
    document = http.get("/openapi.json").json()
    sent, failures = 0, []
    for method, path, operation in operations(document):
        url = path
        for name, value in ids.items():
            url = url.replace("{" + name + "}", value)
        url = url.replace("{", "").replace("}", "")  # ids nobody has: 404s are fine
        attempts: list[tuple[str, Any]] = []
        for field in body_fields(document, operation):
            for value in HOSTILE_JSON:
                attempts.append(("body", f'{{"{field}": {value}}}'))
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query":
                for value in HOSTILE_QUERY:
                    attempts.append(("query", f"{parameter['name']}={value}"))
        for kind, payload in attempts:
            if kind == "body":
                answer = getattr(http, method.lower())(
                    url,
                    data=payload.encode(),
                    headers={**headers, "Content-Type": "application/json"},
                )
            else:
                answer = getattr(http, method.lower())(f"{url}?{payload}", headers=headers)
            sent += 1
            if answer.status_code >= 500 or "error" not in _json(answer.text):
                if 200 <= answer.status_code < 300:
                    continue  # a hostile value that is fine after all (e.g. a 2^70 cursor)
                failures.append((method, path, payload, answer.status_code, answer.text[:200]))
    assert sent > 300
    assert failures == []


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
