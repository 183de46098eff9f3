"""The names MCP tools reach the model by, and the process's cache of tool lists."""

from __future__ import annotations

import asyncio
import re

import pytest

from core.mcp.toolset import McpTool, ToolListCache, model_tool_names

CLAUDE = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")


def test_names_follow_the_strictest_provider_rule_and_stay_distinct() -> None:
    listed = ["issues.list", "issues_list", "x" * 300, "x" * 300 + "y", "a b/c", "ok"]
    names = model_tool_names("gh", listed)
    assert all(CLAUDE.match(name) for name in names), names
    assert len(set(names)) == len(names)
    assert names[0] == "gh_issues_list"  # the first keeps the plain spelling
    assert names[-1] == "gh_ok"
    assert model_tool_names("gh", listed) == names  # the same list, the same names


def test_the_cache_keeps_at_most_its_size_and_remembers_failures() -> None:
    cache = ToolListCache(max_entries=3)
    fetched: list[str] = []

    def fetcher(url: str):
        async def fetch() -> list[McpTool]:
            fetched.append(url)
            if url == "down":
                raise ConnectionError("refused")
            return [McpTool("t", None, {})]

        return fetch

    async def main() -> None:
        for index in range(5):
            url = f"u{index}"
            await cache.get((url, "http", ""), 300, fetcher(url))
        assert len(cache.entries) == 3
        assert [key[0] for key in cache.entries] == ["u2", "u3", "u4"]
        for _ in range(3):
            with pytest.raises(ConnectionError):
                await cache.get(("down", "http", ""), 300, fetcher("down"))
        assert fetched.count("down") == 1  # the failure is remembered

    asyncio.run(main())
