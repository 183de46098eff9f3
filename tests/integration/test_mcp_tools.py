"""MCP tools against a real FastMCP server on 127.0.0.1 (tests/support/mcp_server.py), driven by
FunctionModel scripts through the API: credentials per caller, egress rules, allow-lists,
timeouts and errors as retries the model sees, the tool-list cache, inspection."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, RetryPromptPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from core.config import reset_settings
from core.mcp.toolset import TOOL_LISTS
from tests.integration.test_execution_runs import call, text
from tests.support.agents import create_agent, definition, events_of, execute
from tests.support.api import assert_error, signed_up
from tests.support.backends import answering
from tests.support.mcp_server import McpServer, serving
from tests.support.names import resolve_as

ALICE_TOKEN = "tok-alice-0123456789"
BOB_TOKEN = "tok-bob-9876543210"


@pytest.fixture(scope="module")
def mcp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpServer]:
    with serving(tmp_path_factory.mktemp("mcp"), {ALICE_TOKEN: "alice", BOB_TOKEN: "bob"}) as s:
        yield s


@pytest.fixture(autouse=True)
def local_mcp_allowed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MCP_ALLOWED_HOSTS", "127.0.0.1")
    monkeypatch.setenv("MCP_CALL_TIMEOUT_S", "1.5")
    reset_settings()
    TOOL_LISTS.clear()
    yield
    reset_settings()


def server(url: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": "svc",
        "url": url,
        "headers": {"Authorization": {"credential": "svc", "prefix": "Bearer "}},
    } | fields


def add_credential(
    client: Any,
    headers: dict[str, str],
    value: str,
    name: str = "svc",
    hosts: tuple[str, ...] = ("127.0.0.1",),
) -> dict[str, Any]:
    response = client.post(
        "/credentials",
        json={"name": name, "value": value, "allowed_hosts": list(hosts)},
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def mcp_agent(client: Any, headers: dict[str, str], *servers: dict[str, Any], **fields: Any) -> str:
    agent = create_agent(
        client, headers, definition=definition(mcp_servers=list(servers)), **fields
    )
    return str(agent["id"])


def run_script(
    client: Any,
    headers: dict[str, str],
    agent_id: str,
    *steps: ModelResponse,
    seen: list | None = None,
) -> dict[str, Any]:
    queue = list(steps)

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if seen is not None:
            seen.append((messages, info))
        return queue.pop(0) if len(queue) > 1 else queue[0]

    with answering(client, FunctionModel(respond)):
        response = execute(client, headers, agent_id)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def retried(messages: list[ModelMessage]) -> str:
    """What the model was told about a tool call it should retry (pydantic-ai 2.x sends a
    ModelRetry as a tool return marked `retried`)."""
    part = messages[-1].parts[0]
    if isinstance(part, RetryPromptPart):
        return part.model_response()
    assert isinstance(part, ToolReturnPart), part
    assert part.outcome == "retried", part
    return str(part.content)


def tool_results(client: Any, headers: dict[str, str], execution_id: str) -> list[dict[str, Any]]:
    return [
        e["payload"] for e in events_of(client, headers, execution_id) if e["type"] == "tool_result"
    ]


def test_an_mcp_tool_is_called_with_the_callers_credential(
    client: Any, mcp: McpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the HTTP clients' included
    _, alice = signed_up(client)
    add_credential(client, alice, ALICE_TOKEN)
    agent_id = mcp_agent(client, alice, server(mcp.url))
    execution = run_script(client, alice, agent_id, call("svc_whoami", {}), text("done"))
    assert execution["status"] == "succeeded", execution
    [result] = tool_results(client, alice, execution["id"])
    assert result["tool_name"] == "svc_whoami"
    assert result["content"] == "you are alice"
    everything = json.dumps(execution) + json.dumps(events_of(client, alice, execution["id"]))
    assert ALICE_TOKEN not in everything
    listed = client.get("/credentials", headers=alice).get_json()["items"]
    assert listed[0]["last_used_at"] is not None
    assert caplog.records  # the run did log
    assert not [r for r in caplog.records if ALICE_TOKEN in r.getMessage()]


def test_a_stranger_running_a_shared_agent_uses_their_own_credential_or_fails(
    client: Any, mcp: McpServer
) -> None:
    _, alice = signed_up(client)
    add_credential(client, alice, ALICE_TOKEN)
    agent_id = mcp_agent(client, alice, server(mcp.url), scope="public")
    _, bob = signed_up(client)
    missing = run_script(client, bob, agent_id, call("svc_whoami", {}), text("done"))
    assert missing["status"] == "failed"
    assert missing["error"]["code"] == "credential_missing"
    assert "svc" in missing["error"]["message"]
    add_credential(client, bob, BOB_TOKEN)
    execution = run_script(client, bob, agent_id, call("svc_whoami", {}), text("done"))
    assert execution["status"] == "succeeded"
    assert tool_results(client, bob, execution["id"])[0]["content"] == "you are bob"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.7/mcp", "url_scheme"),
        ("https://10.0.0.7/mcp", "url_address"),
        ("https://127.0.0.2/mcp", "url_address"),
        ("https://169.254.169.254/mcp", "url_address"),
        ("https://metadata.google.internal/mcp", "url_address"),
        ("ftp://example.com/mcp", "url_scheme"),
        ("https://user:pw@example.com/mcp", "url_userinfo"),
    ],
)
def test_a_url_the_egress_rules_refuse_is_a_422_at_its_path(
    client: Any, url: str, reason: str
) -> None:
    _, headers = signed_up(client)
    add_credential(client, headers, "x")
    body = {"name": "a", "display_name": "A", "definition": definition(mcp_servers=[server(url)])}
    error = assert_error(client.post("/agents", json=body, headers=headers), 422)
    assert [(d["path"], d["type"]) for d in error["details"]] == [
        ("definition.mcp_servers[0].url", reason)
    ]


def test_a_host_that_resolves_to_a_private_address_is_refused_at_connect(
    client: Any, mcp: McpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolve_as(monkeypatch, {"loopback.example.test": "127.0.0.1"})
    _, headers = signed_up(client)
    add_credential(client, headers, ALICE_TOKEN, hosts=("127.0.0.1", "loopback.example.test"))
    # a name not in MCP_ALLOWED_HOSTS: saved (no DNS at save), refused when connecting
    agent_id = mcp_agent(
        client,
        headers,
        server(mcp.url.replace("http://127.0.0.1", "https://loopback.example.test")),
    )
    seen: list[Any] = []
    before = len(mcp.calls())
    execution = run_script(client, headers, agent_id, text("no tools"), seen=seen)
    assert execution["status"] == "succeeded"
    assert [t.name for t in seen[0][1].function_tools] == []
    assert len(mcp.calls()) == before


def test_definitions_name_known_credentials_and_secret_headers_come_from_them(client: Any) -> None:
    _, headers = signed_up(client)
    body = {
        "name": "a",
        "display_name": "A",
        "definition": definition(mcp_servers=[server("https://example.com/mcp")]),
    }
    error = assert_error(client.post("/agents", json=body, headers=headers), 404)
    assert [(d["path"], d["type"]) for d in error["details"]] == [
        ("definition.mcp_servers[0].headers.Authorization.credential", "unknown_credential")
    ]
    plain = server("https://example.com/mcp", headers={"X-Api-Key": "sk-123"})
    body["definition"] = definition(mcp_servers=[plain])
    error = assert_error(client.post("/agents", json=body, headers=headers), 422)
    assert error["details"][0]["path"] == "definition.mcp_servers[0].headers"
    body["definition"] = definition(mcp_servers=[server("https://example.com/mcp", bogus=1)])
    error = assert_error(client.post("/agents", json=body, headers=headers), 422)
    assert error["details"][0]["path"] == "definition.mcp_servers[0].bogus"
    body["definition"] = definition(
        mcp_servers=[server("https://e.com/a"), server("https://e.com/b")]
    )
    assert_error(client.post("/agents", json=body, headers=headers), 409, "mcp_server_name_taken")


def test_only_allowed_tools_are_offered_and_a_tool_error_is_a_retry(
    client: Any, mcp: McpServer
) -> None:
    _, headers = signed_up(client)
    add_credential(client, headers, ALICE_TOKEN)
    agent_id = mcp_agent(client, headers, server(mcp.url, tools=["note", "fail"]))
    seen: list[Any] = []
    execution = run_script(
        client,
        headers,
        agent_id,
        call("svc_fail", {}),
        call("svc_note", {"text": "hi"}, "c2"),
        text("ok"),
        seen=seen,
    )
    assert execution["status"] == "succeeded"
    assert sorted(t.name for t in seen[0][1].function_tools) == ["svc_fail", "svc_note"]
    assert "this tool always fails" in retried(seen[1][0])
    done = seen[2][0][-1].parts[0]
    assert isinstance(done, ToolReturnPart)
    assert done.content == "noted: hi"
    assert [c["args"] for c in mcp.calls("note")][-1] == {"text": "hi"}


def test_a_slow_server_fails_the_call_as_a_retry_not_the_run(client: Any, mcp: McpServer) -> None:
    _, headers = signed_up(client)
    add_credential(client, headers, ALICE_TOKEN)
    agent_id = mcp_agent(client, headers, server(mcp.url))
    seen: list[Any] = []
    execution = run_script(
        client, headers, agent_id, call("svc_slow", {"seconds": 5}), text("gave up"), seen=seen
    )
    assert execution["status"] == "succeeded"
    assert "did not answer in time" in retried(seen[1][0])


def test_a_server_that_is_down_fails_the_call_as_a_retry(
    client: Any, mcp: McpServer, tmp_path: Path
) -> None:
    _, headers = signed_up(client)
    add_credential(client, headers, ALICE_TOKEN)
    with serving(tmp_path, {}) as doomed:
        agent_id = mcp_agent(client, headers, server(doomed.url))
        seen: list[Any] = []
        # the list is cached by the first run; the server then dies before the call
        run_script(client, headers, agent_id, text("warm"))
        doomed.process.kill()
        doomed.process.wait()
        execution = run_script(
            client, headers, agent_id, call("svc_note", {"text": "x"}), text("ok"), seen=seen
        )
    assert execution["status"] == "succeeded"
    assert "could not be reached" in retried(seen[1][0])


def test_a_warm_cache_lists_no_tools_per_run(client: Any, mcp: McpServer) -> None:
    _, headers = signed_up(client)
    add_credential(client, headers, ALICE_TOKEN)
    agent_id = mcp_agent(client, headers, server(mcp.url))
    for _ in range(3):
        execution = run_script(
            client, headers, agent_id, call("svc_note", {"text": "n"}), text("ok")
        )
        assert execution["status"] == "succeeded"
    assert TOOL_LISTS.listings == 1


def test_the_sse_transport_works_too(client: Any, tmp_path: Path) -> None:
    _, headers = signed_up(client)
    add_credential(client, headers, ALICE_TOKEN)
    with serving(tmp_path, {ALICE_TOKEN: "alice"}, sse=True) as sse:
        agent_id = mcp_agent(client, headers, server(sse.sse_url, transport="sse"))
        execution = run_script(client, headers, agent_id, call("svc_whoami", {}), text("done"))
    assert execution["status"] == "succeeded"
    assert tool_results(client, headers, execution["id"])[0]["content"] == "you are alice"


def test_inspect_lists_a_servers_tools_with_the_callers_credential(
    client: Any, mcp: McpServer
) -> None:
    _, headers = signed_up(client)
    add_credential(client, headers, ALICE_TOKEN)
    body = {
        "url": mcp.url,
        "headers": {"Authorization": {"credential": "svc", "prefix": "Bearer "}},
    }
    response = client.post("/agents/mcp/inspect", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    tools = {t["name"]: t for t in response.get_json()["tools"]}
    assert set(tools) == {"note", "lookup", "whoami", "slow", "fail"}
    assert tools["note"]["input_schema"]["properties"]["text"]["type"] == "string"
    assert ALICE_TOKEN not in response.get_data(as_text=True)
    refused = client.post(
        "/agents/mcp/inspect", json={"url": "https://10.1.2.3/mcp"}, headers=headers
    )
    assert assert_error(refused, 422)["details"][0]["path"] == "url"
    missing = client.post(
        "/agents/mcp/inspect",
        json={"url": mcp.url, "headers": {"Authorization": {"credential": "nope"}}},
        headers=headers,
    )
    assert assert_error(missing, 404)["details"][0]["type"] == "unknown_credential"
    down = client.post(
        "/agents/mcp/inspect", json={"url": "http://127.0.0.1:9/mcp"}, headers=headers
    )
    assert_error(down, 404, "mcp_unavailable")  # nothing speaks MCP there
    nowhere = client.post(
        "/agents/mcp/inspect", json={"url": "https://nowhere.invalid/mcp"}, headers=headers
    )
    assert_error(nowhere, 404, "host_not_found")


def test_the_catalog_says_mcp_is_available(client: Any) -> None:
    _, headers = signed_up(client)
    mcp = client.get("/agents/catalog", headers=headers).get_json()["mcp"]
    assert mcp["available"] is True
    assert "streamable-http" in mcp["transports"]
    assert mcp["allowed_hosts"] == ["127.0.0.1"]


def test_an_mcp_tool_that_needs_approval_runs_once_after_it(
    client: Any, mcp: McpServer, queue: Any, worker_headers: dict[str, str]
) -> None:
    _, headers = signed_up(client)
    add_credential(client, headers, ALICE_TOKEN)
    agent_id = mcp_agent(client, headers, server(mcp.url, requires_approval=["note"]))
    before = len(mcp.calls("note"))
    waiting = run_script(
        client, headers, agent_id, call("svc_note", {"text": "ship it"}), text("done")
    )
    assert waiting["status"] == "waiting_approval"
    assert waiting["pending_approvals"][0]["tool_name"] == "svc_note"
    assert len(mcp.calls("note")) == before  # nothing ran yet
    decided = client.post(
        f"/executions/{waiting['id']}/approvals",
        headers=headers,
        json={"decisions": [{"tool_call_id": "c1", "approved": True}]},
    )
    assert decided.status_code == 202
    [task] = [t for t in queue.tasks if t.path.startswith("/tasks/executions/")]
    with answering(client, FunctionModel(lambda m, i: text("done"))):
        assert client.post(task.path, headers=worker_headers).status_code == 200
        assert client.post(task.path, headers=worker_headers).status_code == 200  # a duplicate
    done = client.get(f"/executions/{waiting['id']}", headers=headers).get_json()
    assert done["status"] == "succeeded"
    assert [c["args"] for c in mcp.calls("note")][before:] == [{"text": "ship it"}]
    everything = json.dumps(done) + json.dumps(events_of(client, headers, waiting["id"]))
    assert ALICE_TOKEN not in everything


def test_a_marketplace_snapshot_keeps_credential_names_never_values(client: Any, db: Any) -> None:
    from core.services.marketplace.snapshots import without_secrets

    _, headers = signed_up(client)
    add_credential(client, headers, ALICE_TOKEN, hosts=("mcp.example.com",))
    plain = {"X-Org": "acme"}
    agent_id = mcp_agent(
        client,
        headers,
        server(
            "https://mcp.example.com/mcp",
            headers={**plain, "Authorization": {"credential": "svc", "prefix": "Bearer "}},
        ),
    )
    definition_ = client.get(f"/agents/{agent_id}", headers=headers).get_json()["definition"]
    snapshot = without_secrets(definition_)
    assert snapshot["mcp_servers"][0]["headers"]["Authorization"] == {
        "credential": "svc",
        "prefix": "Bearer ",
    }
    assert snapshot["mcp_servers"][0]["headers"]["X-Org"] == "acme"
    assert ALICE_TOKEN not in json.dumps(snapshot)
    # a plain value under a secret-looking name never survives a snapshot (defence in depth)
    forged = {
        **definition_,
        "mcp_servers": [{**definition_["mcp_servers"][0], "headers": {"X-Session-Id": "s3cr3t"}}],
    }
    assert without_secrets(forged)["mcp_servers"][0]["headers"] == {}
