"""Tool calls and crashes: each call is recorded `started` before its tool runs and its outcome
as soon as it returns (`tool_calls`), so a run that resumes after a crash, or after another
delivery took it over, knows every call it had begun:

- a call with a kept outcome is answered with it: the tool does not run again;
- a call that started and has no outcome was interrupted and may or may not have taken effect:
  - a tool safe to repeat (a built-in read tool, an MCP tool whose annotations say
    `readOnlyHint` or `idempotentHint`) runs again;
  - a call that needed a person's approval goes back to them, saying so (a new approval runs
    it again; a denial reaches the model as any denial);
  - any other call is not run again: the model is told it was interrupted.

The agent side (core.agents.tool_calls) asks `begin` before a tool runs and tells `finish`
what it returned; both are fenced writes of this attempt."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from core.clock import Clock
from core.models.executions import ToolCallState
from core.runs.execution_rows import LeaseLost
from core.runs.leases import Fence
from core.runs.store import RunStore
from core.runs.tool_call_rows import ToolCallRow

INTERRUPTED = (
    "This call was interrupted: the worker running it stopped before its result was saved, so "
    "it may or may not have taken effect. It was not run again. Check its effect before you "
    "call it again."
)
ASKED_AGAIN = (
    "This call was approved and started, but the worker running it stopped before its result "
    "was saved: it may or may not have taken effect. Approve to run it again, or deny it."
)


@dataclass(frozen=True)
class Begun:
    """What to do with a call: `run` the tool, `answer` with a kept outcome, or `ask` its
    approver again."""

    action: Literal["run", "answer", "ask"]
    kind: str = "return"  # of an answer: "return" | "retry" | "interrupted"
    content: Any = None


RUN = Begun("run")


@dataclass
class ToolJournal:
    """The journal of one attempt of one run. `marks`: each approved call's decision (its
    decided_at), which tells a new approval from the one a call was interrupted under."""

    store: RunStore
    fence: Fence
    clock: Clock
    marks: Mapping[str, str] = field(default_factory=dict)
    _one_at_a_time: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def begin(
        self, call_id: str, tool_name: str, *, repeatable: bool, needs_approval: bool
    ) -> Begun:
        begun: Begun = await self._fenced(
            self._begin, call_id, tool_name, repeatable, needs_approval
        )
        return begun

    async def finish(self, call_id: str, kind: str, content: Any) -> None:
        await self._fenced(self._finish, call_id, kind, content)

    async def forget(self, call_id: str) -> None:
        await self._fenced(self.store.forget_tool_call, self.fence, call_id)

    async def _fenced(self, write: Any, *args: Any) -> Any:
        """`write` on a worker thread, one at a time for the run (parallel tool calls take
        one connection, not one each); a lost fence ends this attempt (RunAbandoned)."""
        from core.agents.runner import RunAbandoned

        async with self._one_at_a_time:
            try:
                return await asyncio.to_thread(write, *args)
            except LeaseLost:
                raise RunAbandoned(str(self.fence.execution_id)) from None

    def _begin(self, call_id: str, tool_name: str, repeatable: bool, needs_approval: bool) -> Begun:
        mark = self.marks.get(call_id) if needs_approval else None
        for _ in range(3):  # each loop: another attempt moved the row meanwhile
            row = self.store.begin_tool_call(self.fence, call_id, tool_name, mark)
            if row is None:
                return RUN
            begun = self._resume(call_id, row, repeatable, needs_approval, mark)
            if begun is not None:
                return begun
        raise RuntimeError(f"tool call {call_id} kept changing under another attempt")

    def _resume(
        self,
        call_id: str,
        row: ToolCallRow,
        repeatable: bool,
        needs_approval: bool,
        mark: str | None,
    ) -> Begun | None:
        """The decision for a call recorded before; None when the row changed meanwhile."""
        if row.state == ToolCallState.finished:
            outcome = row.outcome or {}
            return Begun("answer", str(outcome.get("kind", "return")), outcome.get("content"))
        expect = (row.state, row.attempt)
        if row.state == ToolCallState.reasked:
            if mark is None or mark == row.approval_mark:
                return Begun("ask", content=ASKED_AGAIN)  # still that old approval
            return RUN if self._move(call_id, expect, ToolCallState.started, mark=mark) else None
        if row.attempt == self.fence.attempt:
            return RUN  # this attempt's own row (the tool is called again by the same attempt)
        if repeatable:
            return RUN if self._move(call_id, expect, ToolCallState.started, mark=mark) else None
        if needs_approval:
            moved = self._move(call_id, expect, ToolCallState.reasked, mark=row.approval_mark)
            return Begun("ask", content=ASKED_AGAIN) if moved else None
        outcome = {"kind": "interrupted", "content": INTERRUPTED}
        moved = self._move(call_id, expect, ToolCallState.finished, outcome=outcome)
        return Begun("answer", "interrupted", INTERRUPTED) if moved else None

    def _move(
        self,
        call_id: str,
        expect: tuple[ToolCallState, int],
        state: ToolCallState,
        *,
        outcome: dict[str, Any] | None = None,
        mark: str | None = None,
    ) -> bool:
        return self.store.move_tool_call(
            self.fence, call_id, expect=expect, state=state, outcome=outcome, mark=mark
        )

    def _finish(self, call_id: str, kind: str, content: Any) -> None:
        outcome = {"kind": kind, "content": content}
        expect = (ToolCallState.started, self.fence.attempt)
        if not self._move(call_id, expect, ToolCallState.finished, outcome=outcome):
            # another attempt took the call over (it told the model it was interrupted):
            # this attempt no longer owns the run
            raise LeaseLost(str(self.fence.execution_id))
