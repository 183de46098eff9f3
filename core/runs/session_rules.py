"""A session's rules, in one place: it is its owner's only (anyone else is told it does not
exist, 404), it talks to one agent (another agent's turn is a 409), an archived session takes no
turn until reopened (409), and one turn runs at a time (409 `session_busy`; the partial unique
index `uq_agent_executions_one_active_turn`, migration 0004, holds it against races)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Conflict, NotFound
from core.models.executions import AgentExecution
from core.models.sessions import AgentSession, SessionStatus
from core.runs.leases import ACTIVE


def own_session(
    db: Session, user_id: uuid.UUID, session_id: uuid.UUID, *, for_update: bool = False
) -> AgentSession:
    """The caller's session; 404 for anyone else's."""
    stmt = select(AgentSession).where(
        AgentSession.id == session_id, AgentSession.user_id == user_id
    )
    session = db.scalar(stmt.with_for_update() if for_update else stmt)
    if session is None:
        raise NotFound("no such session", code="session_not_found")
    return session


def check_agent(session: AgentSession, agent_id: uuid.UUID) -> None:
    if session.agent_id != agent_id:
        raise Conflict("the session belongs to another agent", code="session_agent_mismatch")


def check_open(session: AgentSession, agent_id: uuid.UUID) -> None:
    """The session takes turns with this agent: its own, and not archived."""
    check_agent(session, agent_id)
    if session.status == SessionStatus.archived:
        raise Conflict("the session is archived; reopen it first", code="session_archived")


def turn_in_flight(db: Session, session_id: uuid.UUID) -> uuid.UUID | None:
    return db.scalar(
        select(AgentExecution.id)
        .where(AgentExecution.session_id == session_id, AgentExecution.status.in_(ACTIVE))
        .limit(1)
    )


def session_for_turn(
    db: Session, *, user_id: uuid.UUID, session_id: uuid.UUID, agent_id: uuid.UUID
) -> AgentSession:
    """The caller's session, locked, open to this agent, with no run in flight (a second turn
    would interleave the history)."""
    session = own_session(db, user_id, session_id, for_update=True)
    check_open(session, agent_id)
    busy = turn_in_flight(db, session.id)
    if busy is not None:
        raise Conflict(
            f"execution {busy} is still running in this session; wait for it to finish or "
            "cancel it before sending another message",
            code="session_busy",
        )
    return session


TITLE_CHARS = 60


def first_title(content: object) -> str:
    """An untitled session's title, taken with its first turn: the first line of the message's
    text, cut at a word within TITLE_CHARS (a message of no text: its JSON)."""
    import json

    if isinstance(content, list):
        text = " ".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict)
        ).strip()
    elif isinstance(content, str):
        text = content
    else:
        text = json.dumps(content, ensure_ascii=False)
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(line.lstrip("#>-*` ").split()) or "Chat"
    if len(line) <= TITLE_CHARS:
        return line
    cut = line[: TITLE_CHARS - 1].rsplit(" ", 1)[0] or line[: TITLE_CHARS - 1]
    return cut.rstrip(" ,.;:") + "…"
