"""A session's conversation: the messages of its succeeded turns, in turn order.

Each turn's execution keeps the messages it added (agent_executions.messages); a turn that did
not succeed is not part of the conversation. Reading and validating a long conversation on every
turn would make late turns slow, so the process keeps the validated history of recent sessions
and reads only the turns that finished since. That is sound because a session's turns never
overlap (a new turn waits for the previous one to end: `session_busy`) and a finished turn never
changes: what is kept stays a true prefix, and turns finished through another instance are
simply read.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from core.models.executions import AgentExecution, ExecutionStatus

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage

# how many messages the process keeps in all (the least recently used sessions go first)
MAX_KEPT_MESSAGES = 20_000


@dataclass(frozen=True)
class _Kept:
    last_created_at: datetime
    last_id: uuid.UUID
    messages: tuple[ModelMessage, ...]


_kept: OrderedDict[uuid.UUID, _Kept] = OrderedDict()
_kept_messages = 0
_lock = threading.Lock()


def session_history(db: Session | Connection, session_id: uuid.UUID) -> list[ModelMessage]:
    """The conversation so far, oldest message first (a new list each time)."""
    from pydantic_ai.messages import ModelMessagesTypeAdapter

    with _lock:
        kept = _kept.get(session_id)
    turns = select(AgentExecution.id, AgentExecution.created_at, AgentExecution.messages).where(
        AgentExecution.session_id == session_id,
        AgentExecution.status == ExecutionStatus.succeeded,
    )
    if kept is not None:
        turns = turns.where(
            tuple_(AgentExecution.created_at, AgentExecution.id)
            > tuple_(kept.last_created_at, kept.last_id)
        )
    rows = db.execute(turns.order_by(AgentExecution.created_at, AgentExecution.id)).all()
    messages: list[Any] = list(kept.messages) if kept is not None else []
    for row in rows:
        messages.extend(
            _without_system_prompts(ModelMessagesTypeAdapter.validate_python(row.messages or []))
        )
    if rows:
        _keep(session_id, _Kept(rows[-1].created_at, rows[-1].id, tuple(messages)))
    return messages


def _without_system_prompts(messages: list[ModelMessage]) -> list[ModelMessage]:
    """Turns recorded before agents sent their prompt as instructions carry it as a system
    prompt part, which would be sent again next to the agent's current instructions."""
    from dataclasses import replace

    from pydantic_ai.messages import ModelRequest, SystemPromptPart

    kept: list[ModelMessage] = []
    for message in messages:
        if isinstance(message, ModelRequest) and any(
            isinstance(part, SystemPromptPart) for part in message.parts
        ):
            message = replace(
                message, parts=[p for p in message.parts if not isinstance(p, SystemPromptPart)]
            )
        kept.append(message)
    return kept


def forget_session(session_id: uuid.UUID) -> None:
    """Drop what this process keeps of a session (it was deleted)."""
    global _kept_messages
    with _lock:
        gone = _kept.pop(session_id, None)
        if gone is not None:
            _kept_messages -= len(gone.messages)


def _keep(session_id: uuid.UUID, kept: _Kept) -> None:
    global _kept_messages
    with _lock:
        previous = _kept.pop(session_id, None)
        if previous is not None:
            _kept_messages -= len(previous.messages)
        if len(kept.messages) > MAX_KEPT_MESSAGES:
            return
        _kept[session_id] = kept
        _kept_messages += len(kept.messages)
        while _kept_messages > MAX_KEPT_MESSAGES:
            _, evicted = _kept.popitem(last=False)
            _kept_messages -= len(evicted.messages)
