"""The event log of an execution: what pydantic-ai messages become as events, and writing them.

Events carry a `seq` that increases through the execution (and, for a session, through the
whole session); readers page and stream by it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from core.agents.usage import COST_QUANTUM
from core.models.sessions import AgentSession, Event, EventType

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelRequest, ModelResponse

MAX_CONTENT_CHARS = 8000
EVENTS_TABLE = cast(Table, Event.__table__)  # the Core table behind Event
# built once: the dialect batches an executemany of it into one multi-row INSERT
INSERT_EVENTS = insert(EVENTS_TABLE)


def clip(text: str, limit: int = MAX_CONTENT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more characters]"


def response_events(response: ModelResponse) -> list[tuple[EventType, dict[str, Any]]]:
    from pydantic_ai.messages import TextPart, ToolCallPart

    text = "".join(part.content for part in response.parts if isinstance(part, TextPart))
    said: dict[str, Any] = {
        "text": clip(text),
        "model_name": response.model_name,
        "input_tokens": response.usage.input_tokens,
        "output_tokens": response.usage.output_tokens,
        "finish_reason": response.finish_reason,
    }
    cost = getattr(response.usage, "cost", None)  # pydantic-ai's price of this call, if known
    if cost is not None:
        said["cost_usd"] = str(Decimal(str(cost)).quantize(COST_QUANTUM))
    events: list[tuple[EventType, dict[str, Any]]] = [(EventType.model_response, said)]
    for part in response.parts:
        if isinstance(part, ToolCallPart):
            events.append(
                (
                    EventType.tool_call,
                    {
                        "tool_name": part.tool_name,
                        "tool_call_id": part.tool_call_id,
                        "args": _jsonable_args(part.args),
                    },
                )
            )
    return events


def request_events(request: ModelRequest) -> list[tuple[EventType, dict[str, Any]]]:
    """Tool results (and retries the model was asked for) carried by a follow-up request."""
    from pydantic_ai.messages import RetryPromptPart, ToolReturnPart

    events: list[tuple[EventType, dict[str, Any]]] = []
    for part in request.parts:
        if isinstance(part, ToolReturnPart):
            events.append(
                (
                    EventType.tool_result,
                    {
                        "tool_name": part.tool_name,
                        "tool_call_id": part.tool_call_id,
                        "outcome": _outcome(part),
                        "content": clip(part.model_response_str()),
                    },
                )
            )
        elif isinstance(part, RetryPromptPart):
            payload = {"outcome": "retry", "content": clip(part.model_response())}
            if part.tool_name:
                payload |= {"tool_name": part.tool_name, "tool_call_id": part.tool_call_id}
                events.append((EventType.tool_result, payload))
            else:  # the final output was refused (e.g. it did not match the output schema)
                events.append((EventType.status, {"status": "output_retry", **payload}))
    return events


def _outcome(part: Any) -> str:
    """pydantic-ai 2.x marks a tool result the model must retry (ModelRetry) as `retried`."""
    outcome = str(getattr(part, "outcome", None) or "success")
    return {"success": "ok", "retried": "retry"}.get(outcome, outcome)


def _jsonable_args(args: object) -> Any:
    if isinstance(args, str):
        try:
            return json.loads(args)
        except ValueError:
            return clip(args)
    if isinstance(args, dict):
        return args
    dump = getattr(args, "model_dump", None)
    return dump(mode="json") if callable(dump) else {}


class EventLog:
    """Adds an execution's events to a unit of work with the next seqs: session-wide for a run in
    a session (sessions.last_seq, bumped atomically), else per execution. Callers hold the
    execution (fenced update or its creation) so no two writers share one log."""

    def __init__(self, *, execution_id: uuid.UUID, session_id: uuid.UUID | None) -> None:
        self.execution_id = execution_id
        self.session_id = session_id
        self._next: int | None = None
        # told each event once it is committed (a streamed run's caller: core.runs.live)
        self.watcher: Callable[[list[tuple[int, EventType, dict[str, Any]]]], None] | None = None
        self._unsent: list[tuple[int, EventType, dict[str, Any]]] = []

    @contextmanager
    def announcing(self) -> Iterator[None]:
        """Around a unit of work that writes events: the watcher hears of them once it has
        committed, and never of those rolled back."""
        self._unsent = []
        try:
            yield
        except BaseException:
            self._unsent = []
            raise
        unsent, self._unsent = self._unsent, []
        if self.watcher is not None and unsent:
            self.watcher(unsent)

    def opening(self, events: list[tuple[EventType, dict[str, Any]]]) -> list[dict[str, Any]]:
        """A new execution's first events (`rows`), numbered from 1: the statement that starts
        the run writes them (for a session's turn it counts them on from the session's last
        seq). A session-less log then counts on from them without asking the database."""
        if self.session_id is None:
            self._next = len(events) + 1
        return self._json(list(enumerate(events, 1)))

    def add(self, db: Session, events: list[tuple[EventType, dict[str, Any]]]) -> None:
        """One multi-row INSERT (Core, not the unit of work: events are never read back here;
        the dialect's insertmanyvalues turns the executemany into one statement)."""
        rows = [
            {
                "id": uuid.uuid4(),
                "session_id": self.session_id,
                "execution_id": self.execution_id,
                "seq": seq,
                "type": kind,
                "payload": payload,
            }
            for seq, kind, payload in self._numbered(db, events)
        ]
        if rows:
            db.execute(INSERT_EVENTS, rows)

    def rows(
        self, db: Session | Connection, events: list[tuple[EventType, dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """The events with their seqs, as JSON for a statement that writes them together with
        the execution (core.runs.execution_rows): every column but execution_id."""
        return self._json(
            [(seq, (kind, payload)) for seq, kind, payload in self._numbered(db, events)]
        )

    def _json(
        self, numbered: list[tuple[int, tuple[EventType, dict[str, Any]]]]
    ) -> list[dict[str, Any]]:
        session_id = None if self.session_id is None else str(self.session_id)
        return [
            {
                "id": str(uuid.uuid4()),
                "session_id": session_id,
                "seq": seq,
                "type": kind.value,
                "payload": payload,
            }
            for seq, (kind, payload) in numbered
        ]

    def _numbered(
        self, db: Session | Connection, events: list[tuple[EventType, dict[str, Any]]]
    ) -> list[tuple[int, EventType, dict[str, Any]]]:
        if not events:
            return []
        first = self._allocate(db, len(events))
        numbered = [
            (first + offset, kind, payload) for offset, (kind, payload) in enumerate(events)
        ]
        if self.watcher is not None:
            self._unsent += numbered
        return numbered

    def _allocate(self, db: Session | Connection, count: int) -> int:
        if self.session_id is not None:
            last = db.execute(
                update(AgentSession)
                .where(AgentSession.id == self.session_id)
                .values(last_seq=AgentSession.last_seq + count)
                .returning(AgentSession.last_seq)
            ).scalar_one()
            return int(last) - count + 1
        if self._next is None:
            top = db.scalar(
                select(func.max(Event.seq)).where(Event.execution_id == self.execution_id)
            )
            self._next = int(top or 0) + 1
        first, self._next = self._next, self._next + count
        return first
