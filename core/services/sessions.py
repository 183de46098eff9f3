"""Sessions: conversations with one agent. Each message is an execution that continues the
history; events carry a seq that increases through the whole session."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.access.agents import Access, agent_for
from core.config import Settings
from core.errors import Conflict
from core.models.executions import AgentExecution
from core.models.sessions import AgentSession, Event, SessionStatus
from core.models.users import User
from core.pagination import Keyset, Page, escape_like
from core.patch import patch
from core.runs.backends import Backends
from core.runs.following import Log, follow, resume_after
from core.runs.session_history import forget_session
from core.runs.session_rules import check_agent, own_session, turn_in_flight
from core.runs.starting import start_run
from core.schemas.agents import ExecuteRequest
from core.schemas.executions import EventsQuery
from core.schemas.sessions import MessageRequest, SessionCreate, SessionsQuery, SessionUpdate

if TYPE_CHECKING:
    from core.access.callers import Caller
    from core.runs.live import LiveRun
    from core.storage.store import ArtifactStore

SESSIONS_ORDER = Keyset((AgentSession.created_at, AgentSession.id), descending=True)
EVENTS_ORDER = Keyset((Event.seq,))


def create_session(db: Session, *, user: User, data: SessionCreate) -> AgentSession:
    agent_for(db, user, data.agent_id, Access.execute)
    session = AgentSession(
        id=uuid.uuid4(),
        user_id=user.id,
        agent_id=data.agent_id,
        title=data.title,
        state=data.state,
    )
    db.add(session)
    db.flush()
    return session


def session_of_thread(
    db: Session, *, user: User, agent_id: uuid.UUID, session_id: uuid.UUID, title: str = ""
) -> AgentSession:
    """The caller's session of this id, made with it when there is none (a protocol whose
    client names its conversations, AG-UI's thread); anyone else's is a 404, another agent's
    a 409."""
    from sqlalchemy.dialects.postgresql import insert

    agent_for(db, user, agent_id, Access.execute)
    db.execute(
        insert(AgentSession)
        .values(id=session_id, user_id=user.id, agent_id=agent_id, title=title, state={})
        .on_conflict_do_nothing(index_elements=["id"])
    )
    session = own_session(db, user.id, session_id)
    check_agent(session, agent_id)
    return session


def open_thread(
    db: Session, *, caller: Caller, agent_id: uuid.UUID, session_id: uuid.UUID, title: str = ""
) -> uuid.UUID:
    """`session_of_thread` for a protocol's request, answering the session's id: a new thread
    is made by one statement, built once, that checks the account and the access as it
    inserts; an existing one, or a refusal, goes the way `session_of_thread` reads it (and
    says why)."""
    from core.access.callers import account_of
    from core.db.direct import direct

    connection = db.connection()
    made = direct(_new_thread(), connection.dialect).rows(
        connection,
        {
            "thread_id": session_id,
            "thread_user": caller.user_id,
            "thread_agent": agent_id,
            "thread_title": title,
        },
    )
    if made:
        return session_id
    user = account_of(db, caller)
    return session_of_thread(
        db, user=user, agent_id=agent_id, session_id=session_id, title=title
    ).id


@functools.cache
def _new_thread() -> Any:
    from sqlalchemy import Table, bindparam, literal_column
    from sqlalchemy import cast as sa_cast
    from sqlalchemy.dialects.postgresql import insert

    from core.access.agents import may_execute_clause
    from core.models.agents import Agent

    users = cast(Table, User.__table__)
    agents = cast(Table, Agent.__table__)
    sessions = cast(Table, AgentSession.__table__)

    def given(name: str, column: str) -> Any:
        kind = sessions.c[column].type
        return sa_cast(bindparam(name, type_=kind), kind)

    return (
        insert(sessions)
        .from_select(
            ["id", "user_id", "agent_id", "title", "state", "status"],
            select(
                given("thread_id", "id"),
                users.c.id,
                agents.c.id,
                given("thread_title", "title"),
                sa_cast(literal_column("'{}'"), sessions.c.state.type),
                literal_column(f"'{SessionStatus.active.value}'"),
            ).where(
                users.c.id == bindparam("thread_user", type_=users.c.id.type),
                users.c.is_active.is_(True),
                agents.c.id == bindparam("thread_agent", type_=agents.c.id.type),
                agents.c.deleted_at.is_(None),
                agents.c.is_active.is_(True),
                may_execute_clause(users, agents),
            ),
            include_defaults=False,  # the rest are the table's own (server) defaults
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(sessions.c.id)
    )


def list_sessions(db: Session, *, user: User, query: SessionsQuery) -> Page[AgentSession]:
    stmt = select(AgentSession).where(AgentSession.user_id == user.id)
    if query.q:
        pattern = f"%{escape_like(query.q.lower())}%"
        stmt = stmt.where(func.lower(AgentSession.title).like(pattern, escape="\\"))
    where = {AgentSession.agent_id: query.agent_id, AgentSession.status: query.status}
    return SESSIONS_ORDER.fetch(db, stmt, query.cursor, query.limit, where=where)


def get_session(
    db: Session, *, user: User, session_id: uuid.UUID, for_update: bool = False
) -> AgentSession:
    """The caller's own session; anyone else's is a 404."""
    return own_session(db, user.id, session_id, for_update=for_update)


def update_session(
    db: Session, *, user: User, session_id: uuid.UUID, data: SessionUpdate
) -> AgentSession:
    session = get_session(db, user=user, session_id=session_id, for_update=True)
    patch(session, data, "title", "state", "status")
    db.flush()
    return session


def delete_session(
    db: Session,
    *,
    user: User,
    session_id: uuid.UUID,
    settings: Settings,
    artifacts: ArtifactStore,
) -> None:
    """Deletes the session with its events, artifacts and workspace; its executions stay
    (without the session)."""
    session = get_session(db, user=user, session_id=session_id, for_update=True)
    if turn_in_flight(db, session.id) is not None:
        raise Conflict("a run is in flight in this session; cancel it first", code="session_busy")
    from core.services.artifacts import delete_session_artifacts
    from core.storage.workspace import delete_workspace

    delete_session_artifacts(db, store=artifacts, session_id=session.id)
    delete_workspace(settings, artifacts, session_id=session.id)
    db.delete(session)
    db.flush()
    forget_session(session.id)


def post_message(
    db: Session,
    *,
    caller: Caller,
    session_id: uuid.UUID,
    data: MessageRequest,
    backends: Backends,
    live: LiveRun | None = None,
) -> AgentExecution:
    """A turn of the conversation with the session's agent (core.runs.starting), streamed to
    `live` when given."""
    request = ExecuteRequest(
        input=data.content,
        session_id=session_id,
        mode=data.mode,
        **data.model_dump(include={"idempotency_key", "webhook_url"}, exclude_none=True),
    )
    return start_run(db, caller=caller, agent_id=None, data=request, backends=backends, live=live)


def list_events(
    db: Session, *, user: User, session_id: uuid.UUID, query: EventsQuery
) -> Page[Event]:
    get_session(db, user=user, session_id=session_id)
    stmt = select(Event).where(Event.session_id == session_id)
    return EVENTS_ORDER.fetch(db, stmt, query.cursor, query.limit)


def follow_events(
    db: Session, *, user: User, session_id: uuid.UUID, last_event_id: str | None
) -> AsyncIterator[str]:
    """Server-sent events of the session as its turns write them, resumed after
    `Last-Event-ID` (a seq); they end when the session is deleted (or after a while: the client
    reconnects with Last-Event-ID)."""
    get_session(db, user=user, session_id=session_id)
    return follow(Log(session_id=session_id), resume_after(last_event_id))
