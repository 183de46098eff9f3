"""The `delegate` tool: call another agent the caller may execute, as a tool.

The tool knows nothing of databases or access rules: the run gives it `ctx.deps.delegate`, an
async function that checks access, builds the other agent and runs it with the parent's usage
object (so the child's requests and tokens count against the parent's limits).

A delegated agent whose tools need approval is approved as a whole: the delegate call itself
waits for a person's decision (ApprovalRequired), and once approved the other agent runs with
its approvals granted."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from pydantic import Field
from pydantic_ai import ModelRetry, RunContext

# (agent id, input, the parent's usage, max depth, whether a person approved this call)
Delegator = Callable[[str, str, Any, int, bool], Awaitable[Any]]


def make_delegate(config: Any) -> Callable[..., Awaitable[str]]:
    allowed = [str(agent) for agent in config.agents]

    async def delegate(
        ctx: RunContext[Any],
        agent_id: Annotated[str, Field(description="One of the agent ids you may delegate to.")],
        input: Annotated[
            str, Field(min_length=1, max_length=100_000, description="What to ask that agent.")
        ],
    ) -> str:
        if agent_id not in allowed:
            raise ModelRetry(f"you may delegate only to these agent ids: {', '.join(allowed)}")
        run: Delegator | None = getattr(ctx.deps, "delegate", None)
        if run is None:
            raise ModelRetry("delegation is not available in this run")
        if getattr(ctx.deps, "depth", 0) >= config.max_depth:
            raise ModelRetry(
                f"delegation depth limit ({config.max_depth}) reached: answer yourself"
            )
        output = await run(agent_id, input, ctx.usage, config.max_depth, ctx.tool_call_approved)
        return output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)

    return delegate
