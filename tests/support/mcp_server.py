"""A real FastMCP server on 127.0.0.1 for the tests (streamable HTTP at /mcp, SSE at /sse):

- `note(text)` records each call (one JSON line in the calls file) and answers `noted: <text>`;
- `lookup(key)` records each call too, and says it is read-only (`readOnlyHint`);
- `whoami()` needs `Authorization: Bearer <token>` with a token it knows, and answers its
  owner's name (never the token);
- `slow(seconds)` sleeps that long first;
- `fail()` always reports a tool error.

Every HTTP request it receives is written down too (method, path, Host and the Authorization
header it carried: `McpServer.requests()`), so a test can tell what a host was sent. `redirects`
maps paths to the `Location` they answer 307 with (absolute, or relative as servers send).

Run: python -m tests.support.mcp_server PORT CALLS_FILE '{"tokens": {...}, "transport": "http",
"redirects": {...}, "note_delay_s": 0, "odd_names": false, "path": null}'. `odd_names` adds
`issues.list` and a 143-character name; `path` moves the MCP endpoint (e.g. "/mcp/", with a
redirect from "/mcp" as a mount answers). `serving()` starts one in a subprocess and waits
until it answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LONG_NAME = "a_tool_whose_name_goes_on_" * 5 + "and_on_and_on"  # 143 characters


@dataclass(frozen=True)
class McpServer:
    url: str  # streamable HTTP
    sse_url: str
    calls_file: Path
    process: subprocess.Popen[bytes]

    port: int

    def calls(self, tool: str | None = None) -> list[dict[str, Any]]:
        rows = _lines(self.calls_file)
        return [row for row in rows if tool is None or row["tool"] == tool]

    def requests(self) -> list[dict[str, Any]]:
        """Every HTTP request received: {method, path, host, authorization}."""
        return _lines(requests_file(self.calls_file))

    def url_as(self, host: str) -> str:
        """The streamable HTTP URL under another host name for the same server."""
        return f"http://{host}:{self.port}/mcp"


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def requests_file(calls_file: Path | str) -> Path:
    return Path(f"{calls_file}.requests")


@contextmanager
def serving(
    tmp: Path,
    tokens: dict[str, str],
    *,
    sse: bool = False,
    redirects: dict[str, str] | None = None,
    port: int | None = None,
    note_delay_s: float = 0,
    odd_names: bool = False,
    path: str | None = None,
) -> Iterator[McpServer]:
    from tests.support.tasks_emulator import free_port

    port = port or free_port()
    calls = tmp / f"mcp-calls-{port}.jsonl"
    options = {
        "tokens": tokens,
        "transport": "sse" if sse else "http",
        "redirects": redirects,
        "note_delay_s": note_delay_s,
        "odd_names": odd_names,
        "path": path,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.mcp_server",
            str(port),
            str(calls),
            json.dumps(options),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_listening(port, process)
        yield McpServer(f"{base}/mcp", f"{base}/sse", calls, process, port)
    finally:
        process.kill()
        process.wait(timeout=10)


def _wait_until_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the MCP server exited at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the MCP server did not start listening")


def main(port: int, calls_file: str, options: dict[str, Any]) -> None:
    import asyncio

    import uvicorn
    from fastmcp import FastMCP
    from fastmcp.exceptions import ToolError
    from fastmcp.server.dependencies import get_http_headers

    tokens: dict[str, str] = options.get("tokens") or {}
    redirects: dict[str, str] = options.get("redirects") or {}
    transport = options.get("transport") or "http"
    mcp = FastMCP("test-tools")

    def record(tool: str, **args: Any) -> None:
        headers = get_http_headers(include={"authorization"})
        with open(calls_file, "a") as out:
            out.write(
                json.dumps({"tool": tool, "args": args, "auth": bool(headers.get("authorization"))})
                + "\n"
            )

    note_delay_s = float(options.get("note_delay_s") or 0)

    @mcp.tool
    async def note(text: str) -> str:
        """Write down a note."""
        record("note", text=text)
        await asyncio.sleep(note_delay_s)  # a slow side effect, when the test asks for one
        return f"noted: {text}"

    @mcp.tool(annotations={"readOnlyHint": True})
    def lookup(key: str) -> str:
        """Look a key up (changes nothing)."""
        record("lookup", key=key)
        return f"value of {key}"

    @mcp.tool
    def whoami() -> str:
        """Say whose token the request carries."""
        record("whoami")
        header = get_http_headers(include={"authorization"}).get("authorization", "")
        owner = tokens.get(header.removeprefix("Bearer ")) if header.startswith("Bearer ") else None
        if owner is None:
            raise ToolError("unauthorized: a known bearer token is required")
        return f"you are {owner}"

    @mcp.tool
    async def slow(seconds: float) -> str:
        """Wait, then answer."""
        record("slow", seconds=seconds)
        await asyncio.sleep(seconds)
        return "finally"

    @mcp.tool
    def fail() -> str:
        """Always fails."""
        record("fail")
        raise ToolError("this tool always fails")

    if options.get("odd_names"):  # names real servers use that no model takes as they are

        @mcp.tool(name="issues.list")
        def list_issues(repo: str) -> str:
            """List a repository's issues."""
            record("issues.list", repo=repo)
            return f"no issues in {repo}"

        @mcp.tool(name=LONG_NAME)
        def long_named() -> str:
            """A tool whose name is over every provider's limit."""
            record(LONG_NAME)
            return "long"

    path = options.get("path") or ("/sse" if transport == "sse" else "/mcp")
    app = mcp.http_app(path=path, transport="sse" if transport == "sse" else "http")
    log_file = requests_file(calls_file)

    async def logged(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            with open(log_file, "a") as out:
                out.write(
                    json.dumps(
                        {
                            "method": scope["method"],
                            "path": scope["path"],
                            "host": headers.get("host", ""),
                            "authorization": headers.get("authorization"),
                        }
                    )
                    + "\n"
                )
            target = redirects.get(scope["path"])
            if target is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 307,
                        "headers": [(b"location", target.encode()), (b"content-length", b"0")],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
        await app(scope, receive, send)

    uvicorn.run(logged, host="127.0.0.1", port=port, log_level="warning", lifespan="on")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]))
