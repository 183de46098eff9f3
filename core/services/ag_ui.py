"""AG-UI: an agent's turn asked for and answered in the AG-UI protocol, through pydantic-ai's
AG-UI adapter. The thread is a session of the caller (made when new); the turn is an ordinary
sync run of it (core.runs.starting), recorded and authorized like any other, whose pydantic-ai
stream events the adapter turns into AG-UI events (RUN_STARTED, TEXT_MESSAGE_*, TOOL_CALL_*,
RUN_FINISHED or RUN_ERROR).

The session keeps the conversation: of the client's `messages`, only the last user message is
read (its text; files go through POST /artifacts and content parts). The client's own tools
(`tools`) are not offered to the agent."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from core.errors import Invalid, field_error
from core.models.executions import ExecutionStatus
from core.runs.backends import Backends
from core.runs.live import LiveRun
from core.runs.starting import start_run
from core.schemas.ag_ui import AgUiRunInput
from core.schemas.agents import ExecuteRequest
from core.services.auth import account_of
from core.services.sessions import session_of_thread

if TYPE_CHECKING:
    from core.services.auth import Caller

IDEMPOTENCY_PREFIX = "ag-ui:"


class RunEndedBadly(Exception):
    """The run failed (or timed out, or was cancelled): the stream ends with RUN_ERROR."""


def run_turn(
    db: Session,
    *,
    caller: Caller,
    agent_id: uuid.UUID,
    body: AgUiRunInput,
    backends: Backends,
) -> tuple[AsyncIterator[str], uuid.UUID]:
    """Start the thread's turn; its AG-UI event stream (SSE) and its execution's id."""
    from pydantic import ValidationError
    from pydantic_ai.ui.ag_ui import AGUIAdapter

    try:
        run_input = AGUIAdapter.build_run_input(body.model_dump_json(by_alias=True).encode())
    except ValidationError as exc:
        raise Invalid(
            f"not an AG-UI RunAgentInput: {exc.errors()[0]['msg']}",
            details=[field_error(["body"], "not an AG-UI RunAgentInput", "ag_ui")],
        ) from None
    text = _last_user_text(run_input.messages)
    user = account_of(db, caller)
    session = session_of_thread(
        db, user=user, agent_id=agent_id, session_id=body.thread_id, title=text[:80]
    )
    live = LiveRun(native=True)
    execution = start_run(
        db,
        caller=caller,
        agent_id=agent_id,
        data=ExecuteRequest(
            input=text,
            session_id=session.id,
            # a retried request (same runId) gets its run back instead of a second one
            idempotency_key=_idempotency_key(body.run_id),
        ),
        backends=backends,
        live=live,
    )
    output = execution.output
    return _encoded(run_input, live, output), execution.id


def _idempotency_key(run_id: str) -> str | None:
    key = IDEMPOTENCY_PREFIX + run_id
    return key if key.isascii() and key.isprintable() and " " not in key else None


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if getattr(message, "role", None) != "user":
            continue
        content = message.content
        if isinstance(content, str):
            text = content
        else:
            kinds = {getattr(part, "type", None) for part in content}
            if kinds - {"text"}:
                raise Invalid(
                    "only text reaches an agent over AG-UI: upload files with POST /artifacts "
                    "and send them as content parts to POST /sessions/{id}/messages",
                    details=[field_error(["body", "messages"], "not text", "ag_ui_content")],
                )
            text = "".join(part.text for part in content)
        if text.strip():
            return text
        break
    raise Invalid(
        "the last AG-UI message must be the user's, with text",
        details=[field_error(["body", "messages"], "no user message", "ag_ui_messages")],
    )


def _encoded(run_input: Any, live: LiveRun, output: Any) -> AsyncIterator[str]:
    """The adapter's encoded AG-UI events (server-sent events)."""
    from pydantic_ai.ui.ag_ui import AGUIEventStream

    stream = AGUIEventStream(run_input)
    encoded: AsyncIterator[str] = stream.encode_stream(
        stream.transform_stream(_native(live, output))
    )
    return encoded


async def _native(live: LiveRun, output: Any) -> AsyncIterator[Any]:
    """The run's pydantic-ai stream events; the run's end (RunEndedBadly when it failed)."""
    from pydantic_ai.messages import PartEndEvent, PartStartEvent, TextPart

    if not live.launched:  # the runId's earlier run: its answer as one text message
        if isinstance(output, str) and output:
            part = TextPart(output)
            yield PartStartEvent(index=0, part=part)
            yield PartEndEvent(index=0, part=part)
        return
    async for item in live.items():
        if item is None:
            continue
        kind, data, _ = item
        if kind == "native":
            yield data
        elif kind == "error":
            raise RunEndedBadly(data["message"])
        elif kind == "execution":
            status = ExecutionStatus(data["status"])
            if status in (
                ExecutionStatus.failed,
                ExecutionStatus.timed_out,
                ExecutionStatus.cancelled,
            ):
                message = (data.get("error") or {}).get("message") or status.value
                raise RunEndedBadly(f"the run ended {status.value}: {message}")
