"""AG-UI: an agent's turn asked for and answered in the AG-UI protocol, through pydantic-ai's
AG-UI adapter. The thread is a session of the caller (made when new); the turn is an ordinary
sync run of it (core.runs.starting), recorded and authorized like any other, whose pydantic-ai
stream events the adapter turns into AG-UI events (RUN_STARTED, TEXT_MESSAGE_*, TOOL_CALL_*,
RUN_FINISHED or RUN_ERROR).

The session keeps the conversation: of the client's `messages`, only the last user message is
read (its text; files go through POST /artifacts and content parts). The client's own tools
(`tools`) are not offered to the agent."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from core.access.callers import account_of
from core.errors import Conflict, Invalid, field_error
from core.json_schema import free_form_too_deep, standalone
from core.models.executions import ExecutionStatus
from core.runs.backends import Backends
from core.runs.live import LiveRun
from core.runs.starting import start_run
from core.schemas.ag_ui import AgUiRunInput
from core.schemas.agents import ExecuteRequest
from core.schemas.common import FREE_JSON_LEVELS
from core.services.sessions import session_of_thread

if TYPE_CHECKING:
    from core.access.callers import Caller

IDEMPOTENCY_PREFIX = "ag-ui:"
MAX_IDEMPOTENCY_KEY = 200  # ExecuteRequest.idempotency_key


class RunEndedBadly(Exception):
    """The run failed (or timed out, or was cancelled): the stream ends with RUN_ERROR."""


@lru_cache(maxsize=1)
def _their_schema() -> dict[str, Any]:
    from ag_ui.core import RunAgentInput

    return standalone(RunAgentInput.model_json_schema(by_alias=True))


def run_turn(
    db: Session,
    *,
    caller: Caller,
    agent_id: uuid.UUID,
    body: AgUiRunInput,
    backends: Backends,
) -> tuple[AsyncIterator[str], uuid.UUID | None]:
    """Start the thread's turn; its AG-UI event stream (SSE) and its execution's id (None when
    the messages hold no new turn: the stream says so, and nothing is written)."""
    from ag_ui.core import RunAgentInput
    from pydantic import ValidationError

    try:
        # AG-UI 1.0 as the document states it: a role or part type it does not know is a 422,
        # where pydantic-ai's adapter would skip that message silently
        run_input = RunAgentInput.model_validate_json(body.model_dump_json(by_alias=True))
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise Invalid(
            f"not an AG-UI RunAgentInput: {errors[0]['msg']}",
            details=[
                field_error(["body", *error["loc"]], error["msg"], error["type"])
                for error in errors[:20]
            ],
        ) from None
    read = {
        name: value
        for name, value in body.model_dump(by_alias=True).items()
        if name not in AgUiRunInput.UNREAD
    }
    too_deep = free_form_too_deep(_their_schema(), read, FREE_JSON_LEVELS)
    if too_deep:
        message = f"free-form JSON nests at most {FREE_JSON_LEVELS} arrays or objects"
        raise Invalid(
            message,
            details=[field_error(["body", *path], message, "too_deep") for path in too_deep[:20]],
        )
    try:
        text = _last_user_text(run_input.messages)
    except NoNewTurn as refused:  # AG-UI's own way to say a run cannot be: RUN_ERROR
        return _encoded(run_input, None, refused), None
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
            # a retried request (same thread and runId) gets its run back, not a second one
            idempotency_key=_idempotency_key(session.id, body.run_id),
        ),
        backends=backends,
        live=live,
    )
    status = ExecutionStatus(execution.status)
    if not live.launched and status in (ExecutionStatus.queued, ExecutionStatus.running):
        raise Conflict(
            "this runId's run is still going: retry once it ended, or follow it at "
            f"/executions/{execution.id}",
            code="run_in_progress",
            location=f"/executions/{execution.id}",
            retry_after_s=2,
        )
    return _encoded(run_input, live, _Earlier.of(execution)), execution.id


class NoNewTurn(Exception):
    """The messages hold no new turn of the user's to answer: nothing runs."""


class _Earlier:
    """How the runId's earlier run ended, for a retried request (nothing runs again)."""

    def __init__(self, status: ExecutionStatus, output: Any, error: Any, pending: Any) -> None:
        self.status, self.output, self.error, self.pending = status, output, error, pending

    @classmethod
    def of(cls, execution: Any) -> _Earlier:
        return cls(
            ExecutionStatus(execution.status),
            execution.output,
            execution.error,
            execution.pending_approvals,
        )


def _idempotency_key(thread: uuid.UUID, run_id: str) -> str:
    """The turn's key: a runId is a run of its thread (another thread may reuse it); one that
    is no idempotency key as it is (too long, or not printable ASCII) goes by its digest."""
    key = f"{IDEMPOTENCY_PREFIX}{thread}:{run_id}"
    if len(key) <= MAX_IDEMPOTENCY_KEY and re.fullmatch(r"[\x21-\x7e]+", key):
        return key
    digest = hashlib.sha256(run_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{IDEMPOTENCY_PREFIX}{thread}:sha256:{digest}"


def _last_user_text(messages: list[Any]) -> str:
    """The new turn's text: the last message, which must be the user's (a list ending in an
    assistant message or a tool result has no new turn in it: answering it would run the
    earlier user message again)."""
    for message in reversed(messages[-1:]):
        if getattr(message, "role", None) != "user":
            break
        content = message.content
        if isinstance(content, str):
            text = content
        else:
            kinds = {getattr(part, "type", None) for part in content}
            if kinds - {"text"}:
                raise NoNewTurn(
                    "only text reaches an agent over AG-UI: upload files with POST /artifacts "
                    "and send them as content parts to POST /sessions/{id}/messages"
                )
            text = "".join(part.text for part in content)
        if text.strip():
            return text
        break
    raise NoNewTurn(
        "the last message must be the user's, with text: nothing new to answer (an earlier "
        "message is never answered again)"
    )


def _encoded(
    run_input: Any, live: LiveRun | None, earlier: _Earlier | NoNewTurn
) -> AsyncIterator[str]:
    """The adapter's encoded AG-UI events (server-sent events); with no live run, RUN_STARTED
    and RUN_ERROR saying why nothing ran."""
    from pydantic_ai.ui.ag_ui import AGUIEventStream

    stream = AGUIEventStream(run_input)
    events = _native(live, earlier) if isinstance(earlier, _Earlier) else _refused(earlier)
    encoded: AsyncIterator[str] = stream.encode_stream(stream.transform_stream(events))
    return encoded


async def _refused(why: NoNewTurn) -> AsyncIterator[Any]:
    raise RunEndedBadly(str(why))
    yield  # an async generator that ends at once


async def _native(live: LiveRun | None, earlier: _Earlier) -> AsyncIterator[Any]:
    """The run's pydantic-ai stream events; the run's end (RunEndedBadly when it failed). A
    retried runId tells how its earlier run ended: its answer as one text message, its
    failure as RUN_ERROR, its wait for a person as a message saying so."""
    from pydantic_ai.messages import PartEndEvent, PartStartEvent, TextPart

    if live is None or not live.launched:
        if earlier.status in (
            ExecutionStatus.failed,
            ExecutionStatus.timed_out,
            ExecutionStatus.cancelled,
        ):
            message = (earlier.error or {}).get("message") or earlier.status.value
            raise RunEndedBadly(f"the run ended {earlier.status.value}: {message}")
        said = earlier.output
        if earlier.status == ExecutionStatus.waiting_approval:
            calls = ", ".join(call["tool_name"] for call in earlier.pending or [])
            said = f"The run is waiting for a person to approve or deny: {calls}."
        if said is not None and said != "":
            written = said if isinstance(said, str) else json.dumps(said, ensure_ascii=False)
            part = TextPart(written)
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
