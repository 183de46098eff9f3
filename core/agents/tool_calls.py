"""Every tool call of an agent built here passes its run's journal (`RunDeps.journal`,
core.runs.tool_journal), as a pydantic-ai capability around tool execution: the call is recorded
before the tool runs and its outcome as soon as it returns, and a call a crashed attempt had
begun is answered as the journal says (its kept outcome, an interruption, or a new approval).

Tools say what the journal needs in their definition's metadata: `repeatable` (safe to run
again: read-only or idempotent) and `requires_approval` (an MCP tool that waits for a person;
a function tool says so by its kind, `unapproved`)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pydantic_ai.capabilities import AbstractCapability


class Begun(Protocol):
    @property
    def action(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def content(self) -> Any: ...


class Journal(Protocol):
    async def begin(
        self, call_id: str, tool_name: str, *, repeatable: bool, needs_approval: bool
    ) -> Begun: ...

    async def finish(self, call_id: str, kind: str, content: Any) -> None: ...

    async def forget(self, call_id: str) -> None: ...


def journaled_tool_calls() -> AbstractCapability[Any]:
    """The capability (one instance serves every agent: it keeps no state of its own)."""
    return _capability_class()()


@cache
def _capability_class() -> type[AbstractCapability[Any]]:
    from dataclasses import dataclass

    from pydantic_ai import ApprovalRequired, CallDeferred, ModelRetry, RunContext
    from pydantic_ai.capabilities import AbstractCapability
    from pydantic_ai.exceptions import ToolRetryError
    from pydantic_ai.messages import ToolCallPart
    from pydantic_ai.tools import ToolDefinition
    from pydantic_core import to_jsonable_python

    @dataclass
    class JournaledToolCalls(AbstractCapability[Any]):
        async def wrap_tool_execute(
            self,
            ctx: RunContext[Any],
            *,
            call: ToolCallPart,
            tool_def: ToolDefinition,
            args: Any,
            handler: Any,
        ) -> Any:
            journal: Journal | None = getattr(ctx.deps, "journal", None)
            metadata = tool_def.metadata or {}
            needs_approval = tool_def.kind == "unapproved" or bool(
                metadata.get("requires_approval")
            )
            if journal is None or (needs_approval and not ctx.tool_call_approved):
                return await handler(args)  # nothing to record (it waits for a person)
            call_id = call.tool_call_id
            begun = await journal.begin(
                call_id,
                call.tool_name,
                repeatable=bool(metadata.get("repeatable")),
                needs_approval=needs_approval,
            )
            if begun.action == "answer":
                if begun.kind == "retry":
                    raise ModelRetry(str(begun.content))
                return begun.content
            if begun.action == "ask":
                raise ApprovalRequired(metadata={"note": begun.content})
            try:
                result = await handler(args)
            except ToolRetryError as retry:
                told = retry.tool_retry.content
                await journal.finish(call_id, "retry", told if isinstance(told, str) else str(told))
                raise
            except (ApprovalRequired, CallDeferred):
                await journal.forget(call_id)
                raise
            await journal.finish(call_id, "return", to_jsonable_python(result))
            return result

    return JournaledToolCalls
