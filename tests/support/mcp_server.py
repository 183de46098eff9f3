"""A real FastMCP server on 127.0.0.1 for the tests (streamable HTTP at /mcp, SSE at /sse):

- `note(text)` records each call (one JSON line in the calls file) and answers `noted: <text>`;
- `whoami()` needs `Authorization: Bearer <token>` with a token it knows, and answers its
  owner's name (never the token);
- `slow(seconds)` sleeps that long first;
- `fail()` always reports a tool error.

Run: python -m tests.support.mcp_server PORT CALLS_FILE '{"token": "owner", ...}' [sse]
`serving()` starts one in a subprocess and waits until it answers."""

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


@dataclass(frozen=True)
class McpServer:
    url: str  # streamable HTTP
    sse_url: str
    calls_file: Path
    process: subprocess.Popen[bytes]

    def calls(self, tool: str | None = None) -> list[dict[str, Any]]:
        if not self.calls_file.exists():
            return []
        rows = [json.loads(line) for line in self.calls_file.read_text().splitlines() if line]
        return [row for row in rows if tool is None or row["tool"] == tool]


@contextmanager
def serving(tmp: Path, tokens: dict[str, str], *, sse: bool = False) -> Iterator[McpServer]:
    from tests.support.tasks_emulator import free_port

    port = free_port()
    calls = tmp / f"mcp-calls-{port}.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.mcp_server",
            str(port),
            str(calls),
            json.dumps(tokens),
            *(["sse"] if sse else []),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_listening(port, process)
        yield McpServer(f"{base}/mcp", f"{base}/sse", calls, process)
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


def main(port: int, calls_file: str, tokens: dict[str, str], transport: str) -> None:
    import asyncio

    from fastmcp import FastMCP
    from fastmcp.exceptions import ToolError
    from fastmcp.server.dependencies import get_http_headers

    mcp = FastMCP("test-tools")

    def record(tool: str, **args: Any) -> None:
        headers = get_http_headers(include={"authorization"})
        with open(calls_file, "a") as out:
            out.write(
                json.dumps({"tool": tool, "args": args, "auth": bool(headers.get("authorization"))})
                + "\n"
            )

    @mcp.tool
    def note(text: str) -> str:
        """Write down a note."""
        record("note", text=text)
        return f"noted: {text}"

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

    mcp.run(
        transport="sse" if transport == "sse" else "http",
        host="127.0.0.1",
        port=port,
        show_banner=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main(
        int(sys.argv[1]),
        sys.argv[2],
        json.loads(sys.argv[3]),
        sys.argv[4] if len(sys.argv) > 4 else "http",
    )
