"""The memory tools: `memory_save` and `memory_search`, on the memories of the person running
the agent (never its owner's, unless they are the one talking). The run gives them
`ctx.deps.memory` (core.knowledge.memories.RunMemory); they know nothing of databases."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import Field
from pydantic_ai import ModelRetry, RunContext, Tool


def _memory(ctx: RunContext[Any]) -> Any:
    memory = getattr(ctx.deps, "memory", None)
    if memory is None:
        raise ModelRetry("memory is not available in this run")
    return memory


async def memory_save(
    ctx: RunContext[Any],
    text: Annotated[
        str,
        Field(
            min_length=1,
            max_length=2000,
            description="One durable fact about the person, in a full sentence.",
        ),
    ],
) -> dict[str, Any]:
    result: dict[str, Any] = await asyncio.to_thread(_memory(ctx).save, text)
    return result


async def memory_search(
    ctx: RunContext[Any],
    query: Annotated[str, Field(min_length=1, max_length=500, description="What to recall.")],
) -> dict[str, Any]:
    found = await asyncio.to_thread(_memory(ctx).search, query)
    return {"memories": found}


def memory_tools() -> list[Tool[Any]]:
    return [
        Tool(
            memory_save,
            name="memory_save",
            description=(
                "Remember a durable fact about the person you are talking to (a preference, "
                "their role, a standing decision) for later conversations. Not for passing "
                "details of this conversation."
            ),
            takes_ctx=True,
        ),
        Tool(
            memory_search,
            name="memory_search",
            description="Search what you remember about the person you are talking to.",
            takes_ctx=True,
            metadata={"repeatable": True},
        ),
    ]
