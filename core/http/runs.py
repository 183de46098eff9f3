"""How a started run is answered over HTTP."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from core.models.executions import AgentExecution, ExecutionMode
from core.replies import Reply

if TYPE_CHECKING:
    from flask import Response
    from werkzeug.datastructures import Headers

    from core.runs.live import LiveRun


def live_run(headers: Headers, user_id: uuid.UUID) -> LiveRun | None:
    """A live run to stream to, when the caller asked for `text/event-stream`; the caller's
    stream slot is taken now, before the run starts (429 `too_many_streams`)."""
    from core.http.streams import take_stream_slot, wants_event_stream

    if not wants_event_stream(headers):
        return None
    from core.runs.live import LiveRun

    take_stream_slot(user_id)
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

        return event_stream(
            live.frames(lambda: execution_json(execution)),
            user_id=execution.user_id,
            headers={"Location": f"/executions/{execution.id}"},
        )
    return execution
