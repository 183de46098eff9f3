"""Cloud Function `executions`: runs and their event logs."""

from __future__ import annotations

import uuid

from flask import Response
from sqlalchemy.orm import Session
from werkzeug.datastructures import Headers

from core.http import RouteGroup
from core.http.app import function_entry
from core.http.streams import event_stream, wants_event_stream
from core.models.executions import AgentExecution
from core.models.sessions import Event
from core.models.users import User
from core.pagination import Page
from core.runs.backends import Backends
from core.schemas.common import PageOf
from core.schemas.executions import (
    ApprovalsRequest,
    EventPublic,
    EventsQuery,
    ExecutionPublic,
    ExecutionsQuery,
)
from core.services import executions as service

routes = RouteGroup("executions", description="agent runs and their events")


@routes.get("", query=ExecutionsQuery, response=PageOf[ExecutionPublic])
def list_executions(query: ExecutionsQuery, user: User, db: Session) -> Page[AgentExecution]:
    """The caller's runs, newest first (filters agent_id, session_id, status)."""
    return service.list_executions(db, user=user, query=query)


@routes.get("/<uuid:execution_id>", response=ExecutionPublic)
def get_execution(execution_id: uuid.UUID, user: User, db: Session) -> AgentExecution:
    """One run: status, input, output, error, usage, cost and, for a workflow, its steps."""
    return service.execution_detail(db, user=user, execution_id=execution_id)


@routes.get(
    "/<uuid:execution_id>/events",
    query=EventsQuery,
    response=PageOf[EventPublic],
    streams="the events live (`id` is the seq; resumable with Last-Event-ID), then `end`",
)
def list_events(
    execution_id: uuid.UUID, query: EventsQuery, user: User, db: Session, headers: Headers
) -> Page[Event] | Response:
    """The run's events in order (user_message, model_response, tool_call, tool_result, status,
    error), paged by seq; `Accept: text/event-stream` follows a live run (resumable with
    Last-Event-ID) until it ends."""
    if wants_event_stream(headers):
        return event_stream(
            service.follow_events(
                db, user=user, execution_id=execution_id, last_event_id=headers.get("Last-Event-ID")
            ),
            user_id=user.id,
        )
    return service.list_events(db, user=user, execution_id=execution_id, query=query)


@routes.post(
    "/<uuid:execution_id>/cancel",
    response=ExecutionPublic,
    status=202,
    responses={409: "the execution already ended"},
)
def cancel(execution_id: uuid.UUID, user: User, db: Session, backends: Backends) -> AgentExecution:
    """Cancel a run: queued ones at once, running ones at their next step; ended ones → 409."""
    return service.cancel_execution(db, user=user, execution_id=execution_id, backends=backends)


@routes.post(
    "/<uuid:execution_id>/approvals",
    body=ApprovalsRequest,
    response=ExecutionPublic,
    status=202,
    responses={409: "the execution is not waiting for approvals (or was decided already)"},
    keys="execute",
)
def decide_approvals(
    execution_id: uuid.UUID, body: ApprovalsRequest, user: User, db: Session, backends: Backends
) -> AgentExecution:
    """Approve or deny every tool call the run waits on (status waiting_approval), in one
    request: the run's owner or an editor of its agent. The run resumes through the queue; a
    denial reaches the model with its reason."""
    from core.runs.approvals.deciding import decide_approvals

    return decide_approvals(db, user=user, execution_id=execution_id, data=body, backends=backends)


entry = function_entry(lambda: routes)
