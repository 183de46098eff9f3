"""The `knowledge_search` tool: passages of the knowledge bases an agent's definition names.

The tool knows nothing of databases: the run gives it `ctx.deps.knowledge`, a function from a
query to passages that reads only the knowledge bases the agent's owner owns
(core.knowledge.retrieval). What it returns (each passage's chunk, document, position and
score) is what the model saw, recorded in the run's `tool_result` event."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import Field
from pydantic_ai import ModelRetry, RunContext, Tool

from core.tools.configs import KNOWLEDGE_SEARCH

DESCRIPTION = (
    "Search the knowledge bases you were given for passages about a question or topic. "
    "Returns the best passages, each with its document title, position and score: answer from "
    "them and name the documents you used."
)


async def knowledge_search(
    ctx: RunContext[Any],
    query: Annotated[
        str,
        Field(min_length=1, max_length=2000, description="What to look for, in words."),
    ],
) -> dict[str, Any]:
    search = getattr(ctx.deps, "knowledge", None)
    if search is None:
        raise ModelRetry("knowledge search is not available in this run")
    passages = await asyncio.to_thread(search, query)
    if not passages:
        return {"passages": [], "note": "nothing in the knowledge bases matches this query"}
    return {"passages": passages}


def knowledge_search_tool() -> Tool[Any]:
    return Tool(
        knowledge_search,
        name=KNOWLEDGE_SEARCH,
        description=DESCRIPTION,
        takes_ctx=True,
        metadata={"repeatable": True},
    )
