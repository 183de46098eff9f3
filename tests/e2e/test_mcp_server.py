"""The service as an MCP server of the caller's agents (/mcp), reached as `make dev` serves it
by FastMCP's client and by the official `mcp` client: the agents a key's owner may run are the
tools; a call runs the agent; an agent waiting for approval is a tool error naming the run;
an agent the caller may not run is not a tool; a message that is not JSON-RPC gets its error."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.e2e.protocol_callers import agent, user_with_key


@pytest.fixture
def world(http: Any) -> dict[str, Any]:
    headers, key = user_with_key(http)
    stranger_headers, _ = user_with_key(http)
    agent(http, headers, "echo")
    careful = agent(
        http,
        headers,
        "careful",
        model={"provider": "test", "name": "test"},
        tools=[{"name": "file_write", "requires_approval": True}],
    )
    agent(http, headers, "note__taker")  # `__` in its own name: still its tool's name
    hidden = agent(http, stranger_headers, "hidden-one")
    return {"headers": headers, "key": key, "careful": careful, "hidden": hidden}


def test_fastmcp_lists_the_agents_and_calls_one(http, world):
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport

    async def session() -> tuple[list[Any], Any, Any]:
        transport = StreamableHttpTransport(
            f"{http.url}/mcp", headers={"Authorization": f"Bearer {world['key']}"}
        )
        async with Client(transport) as client:
            tools = await client.list_tools()
            answer = await client.call_tool("echo", {"input": "**hello** from MCP"})
            noted = await client.call_tool("note__taker", {"input": "noted"})
            assert noted.content[0].text == "noted"
            waiting = await client.call_tool("careful", {"input": "write"}, raise_on_error=False)
            return tools, answer, waiting

    tools, answer, waiting = asyncio.run(session())
    names = {t.name for t in tools}
    assert {"echo", "careful"} <= names
    assert "hidden-one" not in names  # another user's private agent is no tool
    echo = next(t for t in tools if t.name == "echo")
    assert echo.input_schema["required"] == ["input"]
    assert answer.content[0].text == "**hello** from MCP"
    assert waiting.is_error
    said = waiting.content[0].text
    assert "waits for a person to approve or deny: file_write" in said
    execution_id = said.split()[1]
    run = http.get(f"/executions/{execution_id}", headers=world["headers"]).json()
    assert run["status"] == "waiting_approval"


def test_the_official_mcp_client_keeps_a_conversation_in_a_session(http, world):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    echo_id = next(
        a["id"]
        for a in http.get("/agents?owned=true", headers=world["headers"]).json()["items"]
        if a["name"] == "echo"
    )
    session = http.post("/sessions", json={"agent_id": echo_id}, headers=world["headers"]).json()

    async def talk() -> list[str]:
        headers = {"Authorization": f"Bearer {world['key']}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http_client,
            Client(streamable_http_client(f"{http.url}/mcp", http_client=http_client)) as client,
        ):
            said = []
            for text in ("first", "second"):
                result = await client.call_tool(
                    "echo", {"input": text, "session_id": session["id"]}
                )
                said.append(result.content[0].text)
            return said

    assert asyncio.run(talk()) == ["first", "second"]
    events = http.get(f"/sessions/{session['id']}/events", headers=world["headers"]).json()
    turns = [e["payload"]["content"] for e in events["items"] if e["type"] == "user_message"]
    assert turns == ["first", "second"]


def test_json_rpc_mistakes_get_json_rpc_errors_and_no_key_gets_401(http, world):
    auth = {"Authorization": f"Bearer {world['key']}"}
    not_rpc = http.post("/mcp", json={"hello": "there"}, headers=auth)
    assert not_rpc.status_code == 200
    assert not_rpc.json()["error"]["code"] == -32600
    unknown = http.post(
        "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "nothing/here"}, headers=auth
    )
    assert unknown.json()["error"]["code"] == -32601
    # a failure holds no `result`, a success no `error`: the TypeScript MCP SDK (Claude Desktop
    # through mcp-remote, Cursor) refuses an answer with the other one there, even as null
    assert set(unknown.json()) == {"jsonrpc", "id", "error"}
    assert set(unknown.json()["error"]) == {"code", "message"}
    pong = http.post("/mcp", json={"jsonrpc": "2.0", "id": 9, "method": "ping"}, headers=auth)
    assert pong.json() == {"jsonrpc": "2.0", "id": 9, "result": {}}
    hidden = http.post(
        "/mcp",
        json={
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "hidden-one", "arguments": {"input": "hi"}},
        },
        headers=auth,
    )
    assert hidden.json()["error"]["code"] == -32602
    note = http.post(
        "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=auth
    )
    assert (note.status_code, note.content) == (202, b"")
    assert http.post("/mcp", json={"jsonrpc": "2.0", "id": 3, "method": "ping"}).status_code == 401
