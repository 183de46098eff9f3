"""Cloud Function `sessions`: conversations with an agent and their event logs."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from flask import Response
from sqlalchemy.orm import Session
from werkzeug.datastructures import Headers

from core.agents import AGENT_RUNTIME
from core.http import Reply, RouteGroup
from core.http.app import function_entry
from core.http.runs import live_run, run_answer
from core.http.streams import event_stream, wants_event_stream
from core.models.executions import AgentExecution
from core.models.sessions import AgentSession, Event
from core.models.users import User
from core.pagination import Page
from core.runs.backends import Backends
from core.schemas.common import PageOf
from core.schemas.executions import EventPublic, EventsQuery, ExecutionPublic
from core.schemas.sessions import (
    MessageRequest,
    SessionCreate,
    SessionPublic,
    SessionsQuery,
    SessionUpdate,
)
from core.services import sessions as service

if TYPE_CHECKING:  # jwt loads with the first authenticated request, not at start
    from core.access.callers import Caller

routes = RouteGroup("sessions", description="conversations with an agent")


@routes.post("", body=SessionCreate, response=SessionPublic, status=201)
def create_session(body: SessionCreate, user: User, db: Session) -> AgentSession:
    """Start a conversation with an agent the caller may execute."""
    return service.create_session(db, user=user, data=body)


@routes.get("", query=SessionsQuery, response=PageOf[SessionPublic])
def list_sessions(query: SessionsQuery, user: User, db: Session) -> Page[AgentSession]:
    """The caller's sessions, newest first (filters agent_id, status)."""
    return service.list_sessions(db, user=user, query=query)


@routes.get("/<uuid:session_id>", response=SessionPublic)
def get_session(session_id: uuid.UUID, user: User, db: Session) -> AgentSession:
    """One of the caller's sessions."""
    return service.get_session(db, user=user, session_id=session_id)


@routes.patch("/<uuid:session_id>", body=SessionUpdate, response=SessionPublic)
def update_session(
    session_id: uuid.UUID, body: SessionUpdate, user: User, db: Session
) -> AgentSession:
    """Change the title, state or status (active, archived)."""
    return service.update_session(db, user=user, session_id=session_id, data=body)


@routes.delete(
    "/<uuid:session_id>", status=204, responses={409: "a run is in flight in the session"}
)
def delete_session(session_id: uuid.UUID, user: User, db: Session, backends: Backends) -> None:
    """Delete the session, its events, artifacts and workspace (its executions stay readable)."""
    service.delete_session(
        db,
        user=user,
        session_id=session_id,
        settings=backends.settings,
        artifacts=backends.artifacts,
    )


@routes.post(
    "/<uuid:session_id>/messages",
    body=MessageRequest,
    response=ExecutionPublic,
    auth="token",
    keys="execute",
    responses={
        202: "accepted for an asynchronous run",
        409: "the session is busy or archived, the agent deactivated, or the idempotency key "
        "names a run of another agent",
        429: "a quota is spent: too many unfinished runs, or the day's tokens or cost "
        "(quota_exceeded, Retry-After)",
    },
    needs=AGENT_RUNTIME,
    streams="the run as it happens: text_delta, tool_call, tool_result, approval_requested, "
    "then the finished execution (a sync run)",
)
def post_message(
    session_id: uuid.UUID,
    body: MessageRequest,
    caller: Caller,
    db: Session,
    backends: Backends,
    headers: Headers,
) -> AgentExecution | Reply | Response:
    """Continue the conversation: an execution with the history so far (sync 200, async 202,
    or streamed); 409 while another message of the session is still running."""
    live = live_run(headers, caller.user_id)
    return run_answer(
        service.post_message(
            db, caller=caller, session_id=session_id, data=body, backends=backends, live=live
        ),
        live,
    )


@routes.get(
    "/<uuid:session_id>/events",
    query=EventsQuery,
    response=PageOf[EventPublic],
    streams="the events live (`id` is the seq; resumable with Last-Event-ID)",
)
def list_events(
    session_id: uuid.UUID, query: EventsQuery, user: User, db: Session, headers: Headers
) -> Page[Event] | Response:
    """The session's events in seq order, paged by cursor; `Accept: text/event-stream` follows
    it live (resumable with Last-Event-ID)."""
    if wants_event_stream(headers):
        return event_stream(
            service.follow_events(
                db, user=user, session_id=session_id, last_event_id=headers.get("Last-Event-ID")
            ),
            user_id=user.id,
        )
    return service.list_events(db, user=user, session_id=session_id, query=query)


entry = function_entry(lambda: routes)
