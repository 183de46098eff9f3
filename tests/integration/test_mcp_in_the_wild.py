"""MCP servers as they are out there, against the fake Vertex enforcing what Claude and Gemini
refuse: dotted and over-long tool names reach the model renamed (and calls map back), a mount's
same-host slash redirect keeps the credential, and a server that hangs costs one bounded try per
half minute, with the model told it is unavailable."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel

from core.agents.loop import run_on_agent_loop
from core.agents.providers import build_model
from core.config import Settings, reset_settings
from core.definition import ModelRef, ModelSettingsSpec
from core.mcp.toolset import TOOL_LISTS, model_tool_names
from tests.integration.test_execution_runs import call, text
from tests.support.agents import create_agent, definition, events_of, execute
from tests.support.api import signed_up
from tests.support.backends import answering
from tests.support.fake_vertex import FakeVertex, fake_credentials, tool_call
from tests.support.fake_vertex import text as vertex_text
from tests.support.mcp_server import LONG_NAME, serving
from tests.support.report import report

TOKEN = "tok-alice-in-the-wild"


@pytest.fixture(autouse=True)
def fresh_lists() -> Iterator[None]:
    TOOL_LISTS.clear()
    yield
    TOOL_LISTS.clear()
    reset_settings()


def vertex_model(fake: FakeVertex, provider: str, name: str, http: Any) -> Any:
    settings = Settings.from_environ(
        {
            "SECRET_KEY": "x" * 40,
            "VERTEX_PROJECT": "proj",
            "VERTEX_LOCATION": "us-central1",
            "VERTEX_BASE_URL": fake.url,
            "ANTHROPIC_VERTEX_BASE_URL": fake.anthropic_base_url,
            "ANTHROPIC_VERTEX_REGION": "us-east5",
        }
    )
    ref = ModelRef(provider=provider, name=name)  # type: ignore[arg-type]
    return build_model(
        ref, ModelSettingsSpec(), settings, credentials=fake_credentials(), http_client=http
    )


@pytest.mark.parametrize(
    ("provider", "model", "publisher"),
    [
        ("anthropic-vertex", "claude-sonnet-4-6", "anthropic"),
        ("google-vertex", "gemini-2.5-flash", "google"),
    ],
)
def test_odd_mcp_tool_names_reach_the_model_renamed_and_map_back(
    client: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
    model: str,
    publisher: str,
) -> None:
    monkeypatch.setattr("pydantic_ai.models.ALLOW_MODEL_REQUESTS", True)
    monkeypatch.setenv("MCP_ALLOWED_HOSTS", "127.0.0.1")
    reset_settings()
    with FakeVertex() as fake, serving(tmp_path, {}, odd_names=True) as mcp:
        names = model_tool_names("gh", ["issues.list", LONG_NAME])
        script = fake.claude if publisher == "anthropic" else fake.gemini
        script.then(tool_call(names[0], repo="acme/app"), tool_call(names[1]), vertex_text("done"))
        _, headers = signed_up(client)
        agent = create_agent(
            client,
            headers,
            definition=definition(
                mcp_servers=[{"name": "gh", "url": mcp.url, "tools": ["issues.list", LONG_NAME]}]
            ),
        )
        http = httpx2.AsyncClient(timeout=600)
        try:
            with answering(client, vertex_model(fake, provider, model, http)):
                ran = execute(client, headers, agent["id"]).get_json()
        finally:  # on the loop the run used (this thread's), as its connections are
            run_on_agent_loop(http.aclose())
        assert ran["status"] == "succeeded", ran
        declared = fake.requests_to(publisher)[0].body
        offered = (
            [t["name"] for t in declared["tools"] if "input_schema" in t]
            if publisher == "anthropic"
            else [d["name"] for t in declared["tools"] for d in t["functionDeclarations"]]
        )
        assert sorted(offered) == sorted(names)
        assert all(len(name) <= 128 for name in offered)
        assert [c["tool"] for c in mcp.calls()] == ["issues.list", LONG_NAME]
        assert mcp.calls()[0]["args"] == {"repo": "acme/app"}
        results = [e["payload"] for e in events_of(client, headers, ran["id"])]
        assert "no issues in acme/app" in str(results)
    report(
        "MCP tool names",
        f"{model} (fake Vertex enforcing its name rule), MCP tools 'issues.list' and a "
        f"{len(LONG_NAME)}-character name: {ran['status']}; offered as {names[0]!r} and a "
        f"{len(names[1])}-character name",
    )


def test_a_mounts_slash_redirect_keeps_the_credential_and_the_host_name(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/mcp answers 307 to /mcp/ (what a Starlette mount does). The service reaches the server
    by its name (only `localhost` is an allowed host, not 127.0.0.1): the hop keeps the name,
    so it is the same origin, Authorization stays, and the address is checked again."""
    monkeypatch.setenv("MCP_ALLOWED_HOSTS", "localhost")
    reset_settings()
    with serving(tmp_path, {TOKEN: "alice"}, path="/mcp/", redirects={"/mcp": "/mcp/"}) as mcp:
        _, headers = signed_up(client)
        created = client.post(
            "/credentials",
            json={"name": "svc", "value": TOKEN, "allowed_hosts": ["localhost"]},
            headers=headers,
        )
        assert created.status_code == 201
        server = {
            "name": "svc",
            "url": mcp.url_as("localhost"),
            "headers": {"Authorization": {"credential": "svc", "prefix": "Bearer "}},
        }
        agent = create_agent(client, headers, definition=definition(mcp_servers=[server]))
        steps = [call("svc_whoami", {}), text("done")]
        with answering(client, FunctionModel(lambda m, i: steps[min(len(m) // 2, 1)])):
            ran = execute(client, headers, agent["id"]).get_json()
        assert ran["status"] == "succeeded"
        [result] = [
            e["payload"]["content"]
            for e in events_of(client, headers, ran["id"])
            if e["type"] == "tool_result"
        ]
        assert result == "you are alice"
        hops = mcp.requests()
        assert [r["path"] for r in hops][:2] == ["/mcp", "/mcp/"]
        assert {r["host"].split(":")[0] for r in hops} == {"localhost"}
        assert all(r["authorization"] == f"Bearer {TOKEN}" for r in hops)
        inspected = client.post(
            "/agents/mcp/inspect",
            json={
                "url": mcp.url_as("localhost"),
                "headers": {"Authorization": {"credential": "svc", "prefix": "Bearer "}},
            },
            headers=headers,
        )
        assert inspected.status_code == 200, inspected.get_json()


@pytest.fixture
def hanging_server() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    stop.set()
    for conn in held:
        conn.close()
    listener.close()


def test_a_hanging_server_costs_one_bounded_try_and_the_model_is_told(
    client: Any, monkeypatch: pytest.MonkeyPatch, hanging_server: int
) -> None:
    monkeypatch.setenv("MCP_ALLOWED_HOSTS", "127.0.0.1")
    monkeypatch.setenv("MCP_CONNECT_TIMEOUT_S", "1")
    reset_settings()
    _, headers = signed_up(client)
    server = {"name": "svc", "url": f"http://127.0.0.1:{hanging_server}/mcp"}
    agent = create_agent(client, headers, definition=definition(mcp_servers=[server]))
    seen: list[AgentInfo] = []

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(info)
        return text("done") if len(messages) > 2 else call("file_list_missing", {})

    took = []
    for _ in range(2):
        started = time.monotonic()
        with answering(client, FunctionModel(respond)):
            ran = execute(client, headers, agent["id"]).get_json()
        took.append(time.monotonic() - started)
        assert ran["status"] == "succeeded"
    assert took[0] < 2.5  # one try, bounded by the connect timeout, for both model steps
    assert took[1] < 0.8  # remembered: not tried again within the half minute
    assert all(not info.function_tools for info in seen)
    assert all("MCP server svc" in (info.instructions or "") for info in seen)
    assert "not available in this run" in (seen[0].instructions or "")
    report(
        "MCP servers that hang",
        f"a run with a hanging MCP server (connect timeout 1 s): {took[0]:.2f} s for its two "
        f"model steps; the next run {took[1]:.2f} s",
    )


def test_gemini_2_5_with_web_search_and_an_mcp_server_is_refused_when_saved(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gemini 2.5 refuses function tools beside its native search; an MCP server's tools are
    function tools, so such an agent could never run (every run ended internal_error)."""
    monkeypatch.setenv("MCP_ALLOWED_HOSTS", "127.0.0.1")
    reset_settings()
    _, headers = signed_up(client)
    body = {
        "name": "searcher",
        "display_name": "Searcher",
        "definition": {
            "model": {"provider": "google-vertex", "name": "gemini-2.5-flash"},
            "tools": [{"name": "web_search"}],
            "mcp_servers": [{"name": "svc", "url": "http://127.0.0.1:9/mcp"}],
        },
    }
    from tests.support.api import assert_error

    error = assert_error(client.post("/agents", json=body, headers=headers), 422)
    [detail] = error["details"]
    assert detail["path"] == "definition.tools[0].name"
    assert "MCP server svc" in detail["msg"]
    three = {
        **body,
        "definition": {
            **body["definition"],
            "model": {"provider": "google-vertex", "name": "gemini-3-pro"},
        },
    }
    assert client.post("/agents", json=three, headers=headers).status_code == 201
