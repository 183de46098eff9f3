"""An MCP tool call through the service's agent toolset beside the same call made directly with
FastMCP's client, in one run, against a real FastMCP server on 127.0.0.1
(tests/support/mcp_server.py, streamable HTTP, the `note` tool).

* direct: one connected `fastmcp.Client`, `call_tool("note")` N times; each call timed.
* service: an agent built from a definition with that server (`core.mcp.toolset`: credential
  headers, the egress guard's pinned transport, the per-run session, the tool-list cache), one
  run whose FunctionModel calls `svc_note` N times, one call per step; each step timed from one
  model request to the next.
* floor: the same run with an in-process function tool that does nothing, so that
  `service - floor` is what the MCP call costs inside a run (the agent loop's own cost removed).

Overhead = p50(service step) - p50(floor step) - p50(direct call): what the service adds to the
call itself (target <= 5 ms). Also: tool listings during 20 more runs with a warm cache (target 0).

    .venv/bin/python bench/mcp_calls.py [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def p50(values: list[float]) -> float:
    return statistics.median(values) * 1000


async def direct_calls(url: str, calls: int) -> list[float]:
    from fastmcp import Client

    times = []
    async with Client(url, timeout=30) as client:
        await client.call_tool("note", {"text": "warm"})
        for i in range(calls):
            start = time.perf_counter()
            await client.call_tool("note", {"text": f"n{i}"})
            times.append(time.perf_counter() - start)
    return times


def stepping_model(tool: str, calls: int, marks: list[float]) -> Any:
    from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
    from pydantic_ai.models.function import FunctionModel

    def respond(messages: list[Any], info: Any) -> ModelResponse:
        marks.append(time.perf_counter())
        step = len(marks)
        if step <= calls:
            return ModelResponse(
                parts=[ToolCallPart(tool, {"text": f"n{step}"}, tool_call_id=f"c{step}")]
            )
        return ModelResponse(parts=[TextPart("done")])

    return FunctionModel(respond)


async def run_agent(
    definition: dict[str, Any], tool: str, calls: int, settings: Any
) -> list[float]:
    from pydantic_ai.usage import UsageLimits

    from core.agents.factory import RunDeps, build_agent
    from core.definition import AgentDefinition
    from core.storage.local_workspace import LocalWorkspace

    marks: list[float] = []
    agent = build_agent(
        AgentDefinition.model_validate(definition),
        settings,
        model=stepping_model(tool, calls, marks),
    )
    if tool == "noop":

        @agent.tool_plain(name="noop")
        def noop(text: str) -> str:
            return f"noted: {text}"

    workspace = LocalWorkspace(Path(tempfile.mkdtemp()), name="bench", writable=True)
    deps = RunDeps(workspace=workspace, repo=None, credentials={"svc": "tok-bench-secret"})
    limits = UsageLimits(request_limit=calls + 5, tool_calls_limit=calls + 5)
    await agent.run("go", deps=deps, usage_limits=limits)
    # step k: from the k-th model request to the next (one tool call and the loop around it);
    # the first is left out (it opens the run's MCP session)
    return [b - a for a, b in itertools.pairwise(marks[1:])]


async def main(calls: int) -> None:
    from core.config import Settings
    from core.mcp.toolset import TOOL_LISTS
    from tests.support.mcp_server import serving

    settings = Settings.from_environ(
        {"MCP_ALLOWED_HOSTS": "127.0.0.1", "DATA_DIR": tempfile.mkdtemp()}
    )
    with serving(Path(tempfile.mkdtemp()), {"tok-bench-secret": "bench"}) as server:
        mcp_definition = {
            "model": {"provider": "test", "name": "test"},
            "mcp_servers": [
                {
                    "name": "svc",
                    "url": server.url,
                    "headers": {"Authorization": {"credential": "svc", "prefix": "Bearer "}},
                }
            ],
        }
        plain = {"model": {"provider": "test", "name": "test"}}
        await run_agent(mcp_definition, "svc_note", 5, settings)  # imports, first listing
        await run_agent(plain, "noop", 5, settings)
        direct = await direct_calls(server.url, calls)
        service = await run_agent(mcp_definition, "svc_note", calls, settings)
        floor = await run_agent(plain, "noop", calls, settings)
        listings = TOOL_LISTS.listings
        for _ in range(20):
            await run_agent(mcp_definition, "svc_note", 1, settings)
        warm_listings = TOOL_LISTS.listings - listings

    overhead = p50(service) - p50(floor) - p50(direct)
    print(f"calls per measurement: {calls}")
    print(f"direct FastMCP call      p50 {p50(direct):7.2f} ms")
    print(f"service step (MCP call)  p50 {p50(service):7.2f} ms")
    print(f"floor step (no-op tool)  p50 {p50(floor):7.2f} ms")
    print(f"service overhead on the call: {overhead:+.2f} ms (target <= +5 ms)")
    print(f"tool listings in 20 runs with a warm cache: {warm_listings} (target 0)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    asyncio.run(main(parser.parse_args().calls))
