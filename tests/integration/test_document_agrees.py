"""The document states each rule JSON Schema can, exactly as the server holds it: for bodies on
either side of each rule, "the document allows it" and "the server accepts it" agree (what
schemathesis with its default settings relies on, tests/e2e/test_contract.py)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.support.agents import definition
from tests.support.api import signed_up

WEB = {"name": "web_search", "enabled": True, "config": {}}
READ = {"name": "file_read", "enabled": True, "config": {}}
GEMINI_3 = {"provider": "google-vertex", "name": "gemini-3.1-pro-preview"}
GEMINI_25 = {"provider": "google-vertex", "name": "gemini-2.5-flash"}
CLAUDE = {"provider": "anthropic-vertex", "name": "claude-sonnet-4-6"}
SERVER = {"name": "notes", "url": "https://mcp.example.com/mcp"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    from core.devserver import local_app

    return dict(local_app(docs=False).test_client().get("/openapi.json").get_json())


def allows(document: dict[str, Any], schema: str, body: Any) -> bool:
    root = {"$ref": f"#/components/schemas/{schema}", "components": document["components"]}
    return Draft202012Validator(root).is_valid(body)


# an output schema nests as deep as its output: ten objects, one inside the other
DEEP_SCHEMA: dict[str, Any] = {"type": "object"}
for _ in range(10):
    DEEP_SCHEMA = {"type": "object", "properties": {"a": DEEP_SCHEMA}}

DEFINITIONS: list[tuple[str, dict[str, Any]]] = [
    ("a tool twice", definition(tools=[READ, READ])),
    ("two tools once each", definition(tools=[READ, {**WEB, "enabled": False}])),
    ("web_search waiting for approval", definition(tools=[{**WEB, "requires_approval": True}])),
    ("a config the tool does not take", definition(tools=[{**READ, "config": {"x": 1}}])),
    ("delegate without its agents", definition(tools=[{"name": "delegate"}])),
    (
        "both domain filters",
        definition(
            model=CLAUDE,
            tools=[{**WEB, "config": {"allowed_domains": ["a.com"], "blocked_domains": ["b.com"]}}],
        ),
    ),
    (
        "one domain filter on Claude",
        definition(model=CLAUDE, tools=[{**WEB, "config": {"allowed_domains": ["a.com"]}}]),
    ),
    (
        "Claude's search settings on Gemini",
        definition(model=GEMINI_3, tools=[{**WEB, "config": {"max_uses": 2}}]),
    ),
    (
        "Claude's search settings with a Gemini fallback",
        definition(
            model={**CLAUDE, "fallback": [GEMINI_3]}, tools=[{**WEB, "config": {"max_uses": 2}}]
        ),
    ),
    ("Gemini 2.5 searching beside another tool", definition(model=GEMINI_25, tools=[WEB, READ])),
    (
        "Gemini 2.5 searching beside an MCP server",
        definition(model=GEMINI_25, tools=[WEB], mcp_servers=[SERVER]),
    ),
    ("Gemini 2.5 searching alone", definition(model=GEMINI_25, tools=[WEB])),
    (
        "Gemini 2.5 beside a disabled search",
        definition(model=GEMINI_25, tools=[{**WEB, "enabled": False}, READ]),
    ),
    ("Gemini 3 searching beside another tool", definition(model=GEMINI_3, tools=[WEB, READ])),
    ("an MCP server named like a tool", definition(mcp_servers=[{**SERVER, "name": "file"}])),
    (
        "an MCP server at an address",
        definition(mcp_servers=[{**SERVER, "url": "https://1.1.1.1/mcp"}]),
    ),
    ("an MCP server at a name", definition(mcp_servers=[SERVER])),
    ("a longer timeout than the deployment's", definition(limits={"timeout_s": 601})),
    ("a deep output schema", definition(output_schema=DEEP_SCHEMA)),
    (
        "a NUL in an output schema",
        definition(output_schema={"type": "object", "description": "a\u0000"}),
    ),
]


@pytest.mark.parametrize(("case", "body"), DEFINITIONS, ids=[case for case, _ in DEFINITIONS])
def test_a_definition_is_saved_exactly_when_the_document_allows_it(
    client: Any, document: dict[str, Any], case: str, body: dict[str, Any]
) -> None:
    _, headers = signed_up(client)
    agent = {"name": f"a{uuid.uuid4().hex[:8]}", "display_name": "A", "definition": body}
    answer = client.post("/agents", headers=headers, json=agent)
    assert answer.status_code in (201, 422), answer.get_json()
    assert allows(document, "AgentCreate", agent) == (answer.status_code == 201), (
        case,
        answer.get_json(),
    )


URLS = [
    "https://hooks.example.com/x",
    "https://hooks.example.com:8443/x?y=1#z",
    "https://1.1.1.1/x",
    "https://hooks/x",
    "http://hooks.example.com/x",
    "https://hooks.example.com:0443/x",
    "https://hooks.example.com/a b",
]


@pytest.mark.parametrize("url", URLS)
def test_a_webhook_url_passes_exactly_when_the_document_allows_it(
    client: Any, document: dict[str, Any], url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names resolve (to a public address) here: the URL's shape alone decides."""
    import socket

    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if str(host).endswith("example.com"):
            return real("1.1.1.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    from core.config import get_settings
    from core.errors import Invalid
    from core.webhooks import check_webhook_url

    try:
        check_webhook_url(url, get_settings())
        accepted = True
    except Invalid:
        accepted = False
    assert allows(document, "ExecuteRequest", {"input": "x", "webhook_url": url}) == accepted


def nested(levels: int, leaf: Any = "x") -> Any:
    """`levels` arrays and objects, one inside the other, around `leaf`."""
    value = leaf
    for level in range(levels):
        value = {"k": value} if level % 2 else [value]
    return value


FREE_FORM = [
    ("at the limit", nested(4)),
    ("a level deeper", nested(5)),
    ("a NUL at the limit", nested(4, "a\u0000b")),
    ("a NUL key at the limit", nested(3, {"a\u0000": 1})),
    ("a NUL a level deeper", nested(5, "a\u0000b")),
    ("an empty object a level deeper", nested(4, {})),
    ("scalars", {"n": 1.5, "b": False, "z": None}),
]


@pytest.mark.parametrize(("case", "value"), FREE_FORM, ids=[case for case, _ in FREE_FORM])
def test_free_form_json_is_taken_exactly_when_the_document_allows_it(
    client: Any, document: dict[str, Any], case: str, value: Any
) -> None:
    """Metadata, state, profile and an object input: what JSON Schema can state without a
    recursive schema (FREE_JSON_LEVELS levels, then scalars), the server holds to."""
    _, headers = signed_up(client)
    field = {"v": value}
    agent = {"name": f"a{uuid.uuid4().hex[:8]}", "display_name": "A", "definition": definition()}
    answers = {
        "AgentCreate": client.post("/agents", headers=headers, json={**agent, "metadata": field}),
        "SelfUpdate": client.patch("/users/me", headers=headers, json={"profile": field}),
    }
    plain = {**agent, "name": f"b{uuid.uuid4().hex[:8]}"}
    agent_id = client.post("/agents", headers=headers, json=plain).get_json()["id"]
    session = {"agent_id": agent_id, "state": field}
    answers["SessionCreate"] = client.post("/sessions", headers=headers, json=session)
    run = {"input": field, "mode": "sync"}
    answers["ExecuteRequest"] = client.post(
        f"/agents/{agent_id}/execute", headers=headers, json=run
    )
    bodies = {
        "AgentCreate": {**agent, "metadata": field},
        "SelfUpdate": {"profile": field},
        "SessionCreate": session,
        "ExecuteRequest": run,
    }
    for schema, answer in answers.items():
        assert answer.status_code in (200, 201, 202, 422), (schema, answer.get_json())
        assert allows(document, schema, bodies[schema]) == (answer.status_code != 422), (
            case,
            schema,
            answer.get_json(),
        )


@pytest.mark.parametrize("levels", [4, 5])
def test_an_ag_ui_body_is_taken_exactly_when_the_document_allows_it(
    client: Any, document: dict[str, Any], levels: int
) -> None:
    """AG-UI's own open places in what the service reads (a message's extra fields) hold
    free-form JSON as ours do; what it never reads nor stores (state, resume, ...) anything,
    a NUL included."""
    _, headers = signed_up(client)
    agent = {"name": f"a{uuid.uuid4().hex[:8]}", "display_name": "A", "definition": definition()}
    agent_id = client.post("/agents", headers=headers, json=agent).get_json()["id"]
    body = {
        "threadId": str(uuid.uuid4()),
        "runId": "r1",
        "messages": [{"id": "m1", "role": "user", "content": "hi", "extra": nested(levels)}],
        "state": {"draft": "a\u0000b", "deep": nested(9)},
        "tools": [],
        "context": [],
        "forwardedProps": None,
        "resume": [{"interruptId": "i1", "status": "resolved", "metadata": {"m": nested(9)}}],
    }
    answer = client.post(f"/agents/{agent_id}/ag-ui", headers=headers, json=body)
    text = answer.get_data(as_text=True)  # the whole stream: its run ends inside this test
    assert answer.status_code in (200, 422), text
    assert allows(document, "AgUiRunInput", body) == (levels == 4)
    assert allows(document, "AgUiRunInput", body) == (answer.status_code == 200)


def test_two_mcp_servers_of_one_name_are_a_conflict_the_document_cannot_state(
    client: Any, document: dict[str, Any]
) -> None:
    """Valid as JSON Schema sees it (no keyword says "unique by name"), so a 409 naming the
    second server, as a generated client expects of valid data; a 422 before."""
    _, headers = signed_up(client)
    twice = [SERVER, {**SERVER, "url": "https://other.example.com/mcp"}]
    agent = {"name": "twice", "display_name": "A", "definition": definition(mcp_servers=twice)}
    assert allows(document, "AgentCreate", agent)
    answer = client.post("/agents", headers=headers, json=agent)
    assert answer.status_code == 409, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == "mcp_server_name_taken"
    assert [d["path"] for d in error["details"]] == ["definition.mcp_servers[1].name"]


@pytest.mark.parametrize("zone", ["Europe/Paris", "Etc/GMT+5", "000000", "America", "localtime"])
def test_a_time_zone_is_taken_exactly_when_the_document_allows_it(
    client: Any, document: dict[str, Any], zone: str
) -> None:
    _, headers = signed_up(client)
    agent = {"name": f"a{uuid.uuid4().hex[:8]}", "display_name": "A", "definition": definition()}
    agent_id = client.post("/agents", headers=headers, json=agent).get_json()["id"]
    off = {"cron": "0 9 * * 1-5", "input": "x", "enabled": False}
    made = client.post(f"/agents/{agent_id}/schedules", headers=headers, json=off).get_json()
    created = client.post(
        f"/agents/{agent_id}/schedules", headers=headers, json={**off, "timezone": zone}
    )
    changed = client.patch(f"/schedules/{made['id']}", headers=headers, json={"timezone": zone})
    assert allows(document, "ScheduleCreate", {**off, "timezone": zone}) == (
        created.status_code == 201
    ), created.get_json()
    assert allows(document, "ScheduleUpdate", {"timezone": zone}) == (changed.status_code == 200), (
        changed.get_json()
    )
