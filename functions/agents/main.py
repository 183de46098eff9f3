"""Cloud Function `agents`: definitions, versions, sharing, the catalog, and execute."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Response
from sqlalchemy.orm import Session
from werkzeug.datastructures import Headers

from core.agents import AGENT_RUNTIME
from core.config import Settings
from core.http import Reply, RouteGroup
from core.http.app import function_entry
from core.http.runs import live_run, run_answer
from core.http.streams import event_stream
from core.models.agents import Agent, AgentVersion
from core.models.executions import AgentExecution
from core.models.memories import Memory
from core.models.schedules import Schedule
from core.models.users import User
from core.pagination import Page
from core.runs.backends import Backends
from core.schemas.ag_ui import AgUiRunInput
from core.schemas.agents import (
    AgentCreate,
    AgentPublic,
    AgentsQuery,
    AgentUpdate,
    AgentVersionPublic,
    Catalog,
    ExecuteRequest,
    McpInspection,
    McpInspectRequest,
    PermissionGrant,
    PermissionPublic,
    PermissionShare,
    RollbackRequest,
    VersionsQuery,
)
from core.schemas.common import PageOf, PageQuery
from core.schemas.evals import (
    EvalListItem,
    EvalPublic,
    EvalRequest,
    EvalSetCreate,
    EvalSetPublic,
    EvalsQuery,
)
from core.schemas.executions import ExecutionPublic
from core.schemas.memories import MemoryCreate, MemoryPublic
from core.schemas.schedules import ScheduleCreate, SchedulePublic
from core.services import agents as service
from core.services import executions

if TYPE_CHECKING:  # jwt and argon2 load with the first authenticated request, not at start
    from core.access.callers import Caller

# every route on one agent reads it with the caller's row: one round trip for both
routes = RouteGroup(
    "agents", description="agent definitions, sharing and runs", preload={"agent_id": Agent}
)


@routes.get("/catalog", response=Catalog)
def catalog(settings: Settings) -> dict[str, Any]:
    """Providers with their models (and whether each is configured here), and tools with their
    configuration schema."""
    return service.catalog(settings)


@routes.post(
    "/mcp/inspect",
    body=McpInspectRequest,
    response=McpInspection,
    responses={
        404: "the credential named, the host, or an MCP server at the URL is not there",
        409: "the credential is bound to other hosts, or no key opens it",
        422: "the URL is refused",
    },
)
def inspect_mcp_server(
    body: McpInspectRequest, user: User, db: Session, settings: Settings, now: datetime
) -> dict[str, Any]:
    """List an MCP server's tools (name, description, input schema), connecting as a run would:
    with the caller's credentials in the headers, through the same address rules."""
    from core.services.mcp_inspect import inspect_mcp_server

    return inspect_mcp_server(db, user=user, data=body, settings=settings, now=now)


@routes.post(
    "",
    body=AgentCreate,
    response=AgentPublic,
    status=201,
    responses={
        404: "from_template names no template",
        409: "the name is taken, a workflow would call itself, an MCP server's name repeats, or "
        "a credential is bound to other hosts",
    },
)
def create_agent(body: AgentCreate, user: User, db: Session, settings: Settings) -> Agent:
    """Create an agent owned by the caller (version 1.0.0), from a definition or a template."""
    return service.create_agent(db, user=user, data=body, settings=settings)


@routes.get("", query=AgentsQuery, response=PageOf[AgentPublic])
def list_agents(query: AgentsQuery, user: User, db: Session) -> Page[Agent]:
    """The caller's own agents, those shared with them, and public and system agents (the
    built-in static ones included; templates are listed by GET /agents/templates)."""
    return service.list_agents(db, user=user, query=query)


@routes.get("/templates", query=PageQuery, response=PageOf[AgentPublic])
def list_templates(query: PageQuery, user: User, db: Session) -> Page[Agent]:
    """What any signed-in user may start an agent from: the built-in templates and the agents
    admins offer as templates (POST /agents {from_template})."""
    from core.services.agent_templates import list_templates

    return list_templates(db, query=query)


@routes.get("/<uuid:agent_id>", response=AgentPublic)
def get_agent(agent_id: uuid.UUID, user: User, db: Session) -> Agent:
    """One agent (read access)."""
    return service.get_agent(db, user=user, agent_id=agent_id)


@routes.patch(
    "/<uuid:agent_id>",
    body=AgentUpdate,
    response=AgentPublic,
    responses={
        409: "the name is taken, a workflow would call itself, an MCP server's name repeats, or "
        "a credential is bound to other hosts"
    },
)
def update_agent(
    agent_id: uuid.UUID, body: AgentUpdate, user: User, db: Session, backends: Backends
) -> Agent:
    """Change an agent (edit access); a changed definition becomes a new version."""
    return service.update_agent(
        db,
        user=user,
        agent_id=agent_id,
        data=body,
        settings=backends.settings,
        clock=backends.clock,
    )


@routes.delete("/<uuid:agent_id>", status=204)
def delete_agent(agent_id: uuid.UUID, user: User, db: Session, now: datetime) -> None:
    """Soft-delete an agent (owner or admin); its runs and sessions stay readable."""
    service.delete_agent(db, user=user, agent_id=agent_id, now=now)


@routes.get("/<uuid:agent_id>/versions", query=VersionsQuery, response=PageOf[AgentVersionPublic])
def list_versions(
    agent_id: uuid.UUID, query: VersionsQuery, user: User, db: Session
) -> Page[AgentVersion]:
    """Every definition the agent has had, newest first."""
    return service.list_versions(
        db, user=user, agent_id=agent_id, cursor=query.cursor, limit=query.limit
    )


@routes.get("/<uuid:agent_id>/versions/<version>", response=AgentVersionPublic)
def get_version(agent_id: uuid.UUID, version: str, user: User, db: Session) -> AgentVersion:
    """One stored version."""
    return service.get_version(db, user=user, agent_id=agent_id, version=version)


@routes.post(
    "/<uuid:agent_id>/rollback",
    body=RollbackRequest,
    response=AgentPublic,
    responses={409: "the agent has no such version, or that definition no longer holds"},
)
def rollback(
    agent_id: uuid.UUID, body: RollbackRequest, user: User, db: Session, backends: Backends
) -> Agent:
    """Make an earlier version's definition current again (recorded as a new version)."""
    return service.rollback(
        db,
        user=user,
        agent_id=agent_id,
        version=body.version,
        settings=backends.settings,
        clock=backends.clock,
    )


@routes.get("/<uuid:agent_id>/permissions", response=list[PermissionPublic])
def list_permissions(agent_id: uuid.UUID, user: User, db: Session) -> list[PermissionPublic]:
    """Who the agent is shared with (edit access)."""
    return service.list_permissions(db, user=user, agent_id=agent_id)


@routes.put(
    "/<uuid:agent_id>/permissions/<uuid:user_id>",
    body=PermissionGrant,
    response=PermissionPublic,
    responses={409: "the user is the agent's owner"},
)
def grant_permission(
    agent_id: uuid.UUID, user_id: uuid.UUID, body: PermissionGrant, user: User, db: Session
) -> PermissionPublic:
    """Share the agent with a user at a level (owner or admin)."""
    return service.grant_permission(db, user=user, agent_id=agent_id, grantee_id=user_id, data=body)


@routes.post(
    "/<uuid:agent_id>/permissions",
    body=PermissionShare,
    response=PermissionPublic,
    responses={404: "no such agent, or no active user of that username", 409: "the owner"},
)
def share_with_username(
    agent_id: uuid.UUID, body: PermissionShare, user: User, db: Session
) -> PermissionPublic:
    """Share the agent with a user named by username, at a level (owner or admin)."""
    return service.grant_permission(
        db, user=user, agent_id=agent_id, username=body.username, data=body
    )


@routes.delete("/<uuid:agent_id>/permissions/<uuid:user_id>", status=204)
def revoke_permission(agent_id: uuid.UUID, user_id: uuid.UUID, user: User, db: Session) -> None:
    """Stop sharing the agent with a user (owner or admin)."""
    service.revoke_permission(db, user=user, agent_id=agent_id, grantee_id=user_id)


# the hottest route: the account and the access are checked by the statement that starts the run
@routes.post(
    "/<uuid:agent_id>/execute",
    auth="token",
    keys="execute",
    body=ExecuteRequest,
    response=ExecutionPublic,
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
def execute(
    agent_id: uuid.UUID,
    body: ExecuteRequest,
    caller: Caller,
    db: Session,
    backends: Backends,
    headers: Headers,
) -> Reply | AgentExecution | Response:
    """Run the agent (execute access): sync answers with the finished execution, or streams
    the run as it happens."""
    live = live_run(headers, caller.user_id)
    return run_answer(
        executions.execute_agent(
            db, caller=caller, agent_id=agent_id, data=body, backends=backends, live=live
        ),
        live,
    )


@routes.post(
    "/<uuid:agent_id>/ag-ui",
    auth="token",
    keys="execute",
    body=AgUiRunInput,
    responses={
        409: "the session is busy or archived, belongs to another agent, or the agent is "
        "deactivated; or this runId's run is still going (`run_in_progress`, Location)",
        429: "a quota is spent: too many unfinished runs, or the day's tokens or cost "
        "(quota_exceeded, Retry-After)",
    },
    needs=AGENT_RUNTIME,
    streams="the turn as AG-UI events (RUN_STARTED, TEXT_MESSAGE_*, TOOL_CALL_*, RUN_FINISHED "
    "or RUN_ERROR)",
)
def ag_ui(
    agent_id: uuid.UUID, body: AgUiRunInput, caller: Caller, db: Session, backends: Backends
) -> Response:
    """Run a turn in the AG-UI protocol: `threadId` is one of your sessions of this agent (a
    new id makes one), the last user message is the input; answered as AG-UI events."""
    from core.http.streams import take_stream_slot
    from core.services.ag_ui import run_turn

    take_stream_slot(caller.user_id)
    frames, execution_id = run_turn(
        db, caller=caller, agent_id=agent_id, body=body, backends=backends
    )
    location = {"Location": f"/executions/{execution_id}"} if execution_id else {}
    return event_stream(frames, user_id=caller.user_id, headers=location)


@routes.post(
    "/<uuid:agent_id>/schedules",
    body=ScheduleCreate,
    response=SchedulePublic,
    status=201,
    responses={409: "the session is another agent's or archived, or 100 schedules are yours"},
)
def create_schedule(
    agent_id: uuid.UUID,
    body: ScheduleCreate,
    user: User,
    db: Session,
    settings: Settings,
    now: datetime,
) -> Schedule:
    """Run the agent by cron, as you (execute access): each due slot one async execution with
    `trigger: "schedule"`; slots missed while the service was down run once."""
    from core.services.schedules import create_schedule

    return create_schedule(db, user=user, agent_id=agent_id, data=body, settings=settings, now=now)


@routes.post(
    "/<uuid:agent_id>/eval-sets",
    body=EvalSetCreate,
    response=EvalSetPublic,
    status=201,
    keys="never",
    responses={409: "from_session names another agent's session, or a turn it lacks"},
)
def create_eval_set(
    agent_id: uuid.UUID, body: EvalSetCreate, user: User, db: Session
) -> EvalSetPublic:
    """A set of named cases and the evaluators that score them (edit access); version 1. Cases
    may be made of a session's past turns (`from_session`)."""
    from core.services.evals import create_set

    return create_set(db, user=user, agent_id=agent_id, data=body)


@routes.get(
    "/<uuid:agent_id>/eval-sets", query=PageQuery, response=PageOf[EvalSetPublic], keys="never"
)
def list_eval_sets(agent_id: uuid.UUID, query: PageQuery, user: User, db: Session) -> object:
    """The agent's eval sets, newest first (edit access)."""
    from core.services.evals import list_sets

    return list_sets(db, user=user, agent_id=agent_id, query=query)


@routes.post(
    "/<uuid:agent_id>/evals",
    body=EvalRequest,
    response=EvalPublic,
    status=202,
    keys="never",
    responses={
        409: "the set is another agent's, the version does not exist, the agent is a "
        "workflow, or cases times repeat is over this deployment's EVAL_MAX_RUNS",
        429: "its estimated cost is over what is left of your day's budget",
    },
)
def start_eval(
    agent_id: uuid.UUID, body: EvalRequest, user: User, db: Session, backends: Backends
) -> object:
    """Run every case of the set (its current version) through the agent's version (default:
    current), `repeat` times: each case an async execution with `trigger: "eval"`, a few at a
    time, scored as they end. Follow it with GET /evals/{id}."""
    from core.services.evals import start_eval

    return start_eval(db, user=user, agent_id=agent_id, data=body, backends=backends)


@routes.get("/<uuid:agent_id>/evals", query=EvalsQuery, response=PageOf[EvalListItem], keys="never")
def list_evals(agent_id: uuid.UUID, query: EvalsQuery, user: User, db: Session) -> object:
    """The agent's eval runs, newest first (one set's with `eval_set_id`): the score trend
    across versions."""
    from core.services.evals import list_evals

    return list_evals(db, user=user, agent_id=agent_id, eval_set_id=query.eval_set_id, query=query)


@routes.get(
    "/<uuid:agent_id>/memories", query=PageQuery, response=PageOf[MemoryPublic], keys="never"
)
def list_memories(agent_id: uuid.UUID, query: PageQuery, user: User, db: Session) -> Page[Memory]:
    """What the agent remembers about you (your memories with it, newest first); nobody else,
    the agent's owner included, sees them."""
    from core.services.memories import list_memories

    return list_memories(db, user=user, agent_id=agent_id, query=query)


@routes.post(
    "/<uuid:agent_id>/memories",
    body=MemoryCreate,
    response=MemoryPublic,
    status=201,
    keys="never",
    responses={429: "you keep 1,000 memories with this agent already"},
)
def add_memory(agent_id: uuid.UUID, body: MemoryCreate, user: User, db: Session) -> Memory:
    """Tell the agent something to remember about you."""
    from core.services.memories import add_memory

    return add_memory(db, user=user, agent_id=agent_id, data=body)


@routes.get("/<uuid:agent_id>/schedules", query=PageQuery, response=PageOf[SchedulePublic])
def list_schedules(
    agent_id: uuid.UUID, query: PageQuery, user: User, db: Session
) -> Page[Schedule]:
    """Your schedules of this agent, newest first (PATCH or DELETE them at /schedules/{id})."""
    from core.services.schedules import list_schedules

    return list_schedules(db, user=user, agent_id=agent_id, query=query)


entry = function_entry(lambda: routes)
