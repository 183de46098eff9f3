"""How a started run is answered over HTTP."""

from __future__ import annotations

from core.models.executions import AgentExecution, ExecutionMode
from core.replies import Reply


def run_answer(execution: AgentExecution) -> AgentExecution | Reply:
    """A sync run answers 200 with the finished execution; an async one 202 with a Location to
    follow it (also when an idempotency key gives it back)."""
    if execution.mode == ExecutionMode.async_:
        return Reply(execution, 202, {"Location": f"/executions/{execution.id}"})
    return execution
