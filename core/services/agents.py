"""Agents: create, list, read, update (every definition change is a new version), soft delete,
versions, rollback and permissions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.access.agents import Access, agent_for, listed_agents_clause
from core.clock import Clock
from core.config import Settings
from core.definition import AgentDefinition, check_definition
from core.errors import Conflict, Forbidden, Invalid, NotFound, field_error
from core.models.agents import (
    Agent,
    AgentKind,
    AgentPermission,
    AgentScope,
    AgentType,
    AgentVersion,
)
from core.models.users import Role, User
from core.pagination import Keyset, Page, escape_like
from core.patch import patch
from core.runs.workflow_checks import check_steps
from core.schemas.agents import (
    AgentCreate,
    AgentsQuery,
    AgentUpdate,
    PermissionGrant,
    PermissionPublic,
)

FIRST_VERSION = "1.0.0"
AGENTS_ORDER = Keyset((Agent.created_at, Agent.id), descending=True)
# newest first by version number (major, minor, patch), whatever order the rows were written in
VERSIONS_ORDER = Keyset(
    tuple(func.split_part(AgentVersion.version, ".", part).cast(Integer) for part in (1, 2, 3)),
    descending=True,
)


def catalog(settings: Settings) -> dict[str, Any]:
    from core.agents.providers import provider_catalog
    from core.egress import EgressPolicy
    from core.tools.registry import tool_catalog

    return {
        "providers": provider_catalog(settings),
        "tools": tool_catalog(),
        "mcp": {
            "available": True,
            "transports": ["streamable-http", "sse"],
            "allowed_hosts": sorted(EgressPolicy.hosts(settings.mcp_allowed_hosts)),
            "approvals": True,
        },
    }


def create_agent(db: Session, *, user: User, data: AgentCreate, settings: Settings) -> Agent:
    """A new agent from its definition, or from a template (`from_template`: the template's
    definition, on `model` if given; `metadata.created_from` names the template)."""
    if data.scope == AgentScope.system and user.role != Role.admin:
        raise Forbidden("only admins create system agents", code="admin_only")
    metadata = data.metadata
    display_name, description = data.display_name, data.description
    if data.from_template is not None:
        from core.services.agent_templates import template_for

        template = template_for(db, data.from_template)
        given = AgentDefinition.model_validate(template.definition)
        if data.model is not None:
            given = given.model_copy(update={"model": data.model})
        display_name = display_name or template.display_name
        description = description or template.description
        metadata = {**metadata, "created_from": str(template.id)}
        loc: tuple[str | int, ...] = ("body", "from_template")
    else:
        assert data.definition is not None  # AgentCreate demands one of them
        given, loc = data.definition, ("body", "definition")
    assert display_name is not None
    definition = checked_definition(given, settings, loc=loc)
    check_steps(db, user=user, definition=given, agent_id=None, loc=loc)
    _check_servers(db, user, given, settings, loc)
    _check_knowledge(db, user, user.id, given, None, loc)
    agent = Agent(
        name=data.name,
        display_name=display_name,
        description=description,
        owner_id=user.id,
        scope=data.scope,
        agent_type=type_of(given),
        version=FIRST_VERSION,
        definition=definition,
        metadata_=metadata,
    )
    db.add(agent)
    _flush_unique_name(db, agent)
    add_first_version(db, agent, created_by=user.id, note="created")
    db.flush()
    return agent


def add_first_version(db: Session, agent: Agent, *, created_by: uuid.UUID, note: str) -> None:
    """The version row of a new (flushed) agent's first definition."""
    db.add(
        AgentVersion(
            agent_id=agent.id,
            version=FIRST_VERSION,
            definition=agent.definition,
            change_note=note,
            created_by=created_by,
        )
    )


def list_agents(db: Session, *, user: User, query: AgentsQuery) -> Page[Agent]:
    # the built-in templates are listed by GET /agents/templates
    stmt = select(Agent).where(listed_agents_clause(user), Agent.agent_kind != AgentKind.template)
    where = {Agent.scope: query.scope}
    if query.owned:
        stmt = stmt.where(Agent.owner_id == user.id)
    if query.q:
        pattern = f"%{escape_like(query.q.lower())}%"
        stmt = stmt.where(
            or_(
                func.lower(Agent.name).like(pattern, escape="\\"),
                func.lower(Agent.display_name).like(pattern, escape="\\"),
                func.lower(Agent.description).like(pattern, escape="\\"),
            )
        )
    return AGENTS_ORDER.fetch(db, stmt, query.cursor, query.limit, where=where)


def get_agent(db: Session, *, user: User, agent_id: uuid.UUID) -> Agent:
    return agent_for(db, user, agent_id, Access.read)


def update_agent(
    db: Session,
    *,
    user: User,
    agent_id: uuid.UUID,
    data: AgentUpdate,
    settings: Settings,
    clock: Clock,
) -> Agent:
    agent = editable(agent_for(db, user, agent_id, Access.edit, for_update=True))
    changes = data.model_fields_set
    if data.is_template is not None and data.is_template != agent.is_template:
        if user.role != Role.admin:
            raise Forbidden("only admins offer agents as templates", code="admin_only")
        agent.is_template = data.is_template
    if "scope" in changes and data.scope is not None and data.scope != agent.scope:
        level = Access.owner if agent.owner_id == user.id or user.role == Role.admin else None
        if level is None:
            raise Forbidden("only the owner changes who can see an agent", code="owner_only")
        if AgentScope.system in (data.scope, agent.scope) and user.role != Role.admin:
            raise Forbidden("only admins manage system agents", code="admin_only")
        agent.scope = data.scope
    patch(agent, data, "display_name", "description", "is_active", metadata="metadata_")
    if data.definition is not None:
        definition = checked_definition(data.definition, settings, loc=("body", "definition"))
        check_steps(
            db, user=user, definition=data.definition, agent_id=agent.id, loc=("body", "definition")
        )
        _check_servers(db, user, data.definition, settings, ("body", "definition"))
        _check_knowledge(
            db, user, agent.owner_id, data.definition, agent.definition, ("body", "definition")
        )
        if definition != agent.definition:
            new_version(
                db, agent, definition, user=user, note=data.change_note or "updated", clock=clock
            )
            agent.agent_type = type_of(data.definition)
    db.flush()
    return agent


def delete_agent(db: Session, *, user: User, agent_id: uuid.UUID, now: datetime) -> None:
    agent = editable(agent_for(db, user, agent_id, Access.owner, for_update=True))
    agent.deleted_at = now
    agent.is_active = False
    db.flush()


def list_versions(
    db: Session, *, user: User, agent_id: uuid.UUID, cursor: str | None, limit: int
) -> Page[AgentVersion]:
    agent_for(db, user, agent_id, Access.read)
    stmt = select(AgentVersion).where(AgentVersion.agent_id == agent_id)
    rows = db.scalars(VERSIONS_ORDER.apply(stmt, cursor, limit)).all()
    return VERSIONS_ORDER.page(
        rows, limit, key=lambda v: tuple(int(part) for part in v.version.split("."))
    )


def get_version(db: Session, *, user: User, agent_id: uuid.UUID, version: str) -> AgentVersion:
    agent_for(db, user, agent_id, Access.read)
    row = db.scalar(
        select(AgentVersion).where(
            AgentVersion.agent_id == agent_id, AgentVersion.version == version
        )
    )
    if row is None:
        raise NotFound(f"the agent has no version {version}", code="version_not_found")
    return row


def rollback(
    db: Session, *, user: User, agent_id: uuid.UUID, version: str, settings: Settings, clock: Clock
) -> Agent:
    agent = editable(agent_for(db, user, agent_id, Access.edit, for_update=True))
    try:
        target = get_version(db, user=user, agent_id=agent_id, version=version)
    except NotFound as missing:
        # the agent (the URL) was found: a version the body names that it lacks is a conflict
        raise Conflict(
            str(missing),
            code="version_not_found",
            details=[field_error(["body", "version"], "the agent has no such version", "missing")],
        ) from None
    from core.evals.gates import check_release_gate

    check_release_gate(db, agent, version)  # a gated agent goes back only to one that passed
    definition = AgentDefinition.model_validate(target.definition)
    checked = checked_definition(definition, settings, loc=("definition",))
    new_version(db, agent, checked, user=user, note=f"rollback to {version}", clock=clock)
    agent.agent_type = type_of(definition)
    db.flush()
    return agent


def _shared_with(row: AgentPermission, username: str) -> PermissionPublic:
    return PermissionPublic(
        user_id=row.user_id,
        username=username,
        level=row.level,
        granted_by=row.granted_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def list_permissions(db: Session, *, user: User, agent_id: uuid.UUID) -> list[PermissionPublic]:
    agent_for(db, user, agent_id, Access.edit)
    rows = db.execute(
        select(AgentPermission, User.username)
        .join(User, User.id == AgentPermission.user_id)
        .where(AgentPermission.agent_id == agent_id)
        .order_by(AgentPermission.created_at, AgentPermission.user_id)
    ).all()
    return [_shared_with(row, username) for row, username in rows]


def grant_permission(
    db: Session,
    *,
    user: User,
    agent_id: uuid.UUID,
    data: PermissionGrant,
    grantee_id: uuid.UUID | None = None,
    username: str | None = None,
) -> PermissionPublic:
    """Share the agent with a user, named by id or by username (an unknown or deactivated
    user is a 404, like an agent the caller may not share)."""
    agent = editable(agent_for(db, user, agent_id, Access.owner))
    if grantee_id is not None:
        grantee = db.get(User, grantee_id)
    else:
        grantee = db.scalar(
            select(User).where(func.lower(User.username) == (username or "").lower())
        )
    if grantee is None or not grantee.is_active:
        raise NotFound("no such user", code="user_not_found")
    if grantee.id == agent.owner_id:
        raise Conflict("the owner already holds every level", code="owner_permission")
    row = db.get(AgentPermission, (agent_id, grantee.id), with_for_update=True)
    if row is None:
        row = AgentPermission(
            agent_id=agent_id, user_id=grantee.id, level=data.level, granted_by=user.id
        )
        db.add(row)
    else:
        row.level = data.level
        row.granted_by = user.id
    db.flush()
    db.refresh(row)
    return _shared_with(row, grantee.username)


def revoke_permission(
    db: Session, *, user: User, agent_id: uuid.UUID, grantee_id: uuid.UUID
) -> None:
    editable(agent_for(db, user, agent_id, Access.owner))
    row = db.get(AgentPermission, (agent_id, grantee_id))
    if row is None:
        raise NotFound("that user holds no permission on this agent", code="permission_not_found")
    db.delete(row)
    db.flush()


# -- helpers -------------------------------------------------------------------------------------


def editable(agent: Agent) -> Agent:
    """Agents defined in code (static ones and templates) change only with the code."""
    if agent.agent_kind != AgentKind.dynamic:
        raise Forbidden(
            f"{agent.agent_kind.value} agents are defined in code and read-only; create your own "
            "from a template instead",
            code="builtin_read_only",
        )
    return agent


def checked_definition(
    definition: AgentDefinition, settings: Settings, *, loc: tuple[str | int, ...]
) -> dict[str, Any]:
    """The definition as stored: its tools checked, the deployment's default model filled in,
    its timeout within this deployment's."""
    check_definition(definition, loc=loc)
    if "model" not in definition.model_fields_set and definition.workflow is None:
        from core.agents.providers import default_model

        definition = definition.model_copy(update={"model": default_model(settings)})
    if definition.limits.timeout_s > settings.max_execution_timeout_s:
        raise Invalid(
            "invalid agent definition",
            details=[
                field_error(
                    [*loc, "limits", "timeout_s"],
                    f"at most {settings.max_execution_timeout_s} s on this deployment",
                    "less_than_equal",
                )
            ],
        )
    return definition.model_dump(mode="json")


def _check_servers(
    db: Session,
    user: User,
    definition: AgentDefinition,
    settings: Settings,
    loc: tuple[str | int, ...],
) -> None:
    if not definition.remotes():
        return
    from core.credentials import credential_hosts
    from core.mcp.servers import check_remotes

    hosts = credential_hosts(db, user_id=user.id, among=definition.credential_names())
    check_remotes(definition, settings, credentials=hosts, loc=loc)


def _check_knowledge(
    db: Session,
    user: User,
    owner_id: uuid.UUID,
    definition: AgentDefinition,
    previous: dict[str, Any] | None,
    loc: tuple[str | int, ...],
) -> None:
    """Only the agent's owner attaches knowledge bases, and only their own: 422 naming each
    other one (another user's is no different from none)."""
    kept = {str(ref.get("knowledge_base_id")) for ref in (previous or {}).get("knowledge", [])}
    added = [
        (index, ref.knowledge_base_id)
        for index, ref in enumerate(definition.knowledge)
        if str(ref.knowledge_base_id) not in kept
    ]
    if not added:
        return
    from core.models.knowledge import KnowledgeBase

    owned = set(
        db.scalars(
            select(KnowledgeBase.id).where(
                KnowledgeBase.owner_id == owner_id,
                KnowledgeBase.id.in_([kb_id for _, kb_id in added]),
            )
        )
    )
    details = [
        field_error(
            [*loc, "knowledge", index, "knowledge_base_id"],
            "only the agent's owner attaches knowledge bases"
            if user.id != owner_id
            else "no knowledge base of yours has this id",
            "knowledge_base",
        )
        for index, kb_id in added
        if user.id != owner_id or kb_id not in owned
    ]
    if details:
        raise Invalid("invalid agent definition", details=details)


def type_of(definition: AgentDefinition) -> AgentType:
    return AgentType.workflow if definition.workflow is not None else AgentType.single


def _next_version(version: str) -> str:
    major, minor, _patch = (int(part) for part in version.split("."))
    return f"{major}.{minor + 1}.0"


def new_version(
    db: Session, agent: Agent, definition: dict[str, Any], *, user: User, note: str, clock: Clock
) -> None:
    agent.version = _next_version(agent.version)
    agent.definition = definition
    db.add(
        AgentVersion(
            agent_id=agent.id,
            version=agent.version,
            definition=definition,
            change_note=note,
            created_by=user.id,
            # taken under the agent's row lock, so versions order by it (now() would be the
            # transaction's start, which a writer queued on the lock may have before its rival)
            created_at=clock.now(),
        )
    )


def _flush_unique_name(db: Session, agent: Agent) -> None:
    """Flush the new agent inside a savepoint; a taken name is a 409 and leaves the session
    usable (the failed agent is taken out of it, so a caller may try another name)."""
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError:
        if agent in db:  # a rolled-back savepoint usually removed it already
            db.expunge(agent)
        name = agent.name
        raise Conflict(
            f"you already have an agent named {name!r}", code="agent_name_taken"
        ) from None
