"""How a started run is answered over HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.models.executions import AgentExecution, ExecutionMode
from core.replies import Reply

if TYPE_CHECKING:
    from flask import Response
    from werkzeug.datastructures import Headers

    from core.runs.live import LiveRun


def live_run(headers: Headers) -> LiveRun | None:
    """A live run to stream to, when the caller asked for `text/event-stream`."""
    from core.http.streams import wants_event_stream

    if not wants_event_stream(headers):
        return None
    from core.runs.live import LiveRun

    return LiveRun()


def run_answer(
    execution: AgentExecution, live: LiveRun | None = None
) -> AgentExecution | Reply | Response:
    """A sync run answers 200 with the finished execution (streamed: as SSE, ending with it);
    an async one 202 with a Location to follow it (also when an idempotency key gives it
    back)."""
    if execution.mode == ExecutionMode.async_:
        return Reply(execution, 202, {"Location": f"/executions/{execution.id}"})
    if live is not None:
        from core.http.streams import event_stream
        from core.schemas.executions import execution_json

        return event_stream(live.frames(lambda: execution_json(execution)))
    return execution
