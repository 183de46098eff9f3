"""Who may do what with an agent: answered here once and reused by every route.

Levels grow read < execute < edit < owner. The owner and admins hold every level; public and
system agents give every signed-in user execute (hence read); a permission row grants its level.
An agent the caller cannot read is reported as missing (404), never as forbidden.
"""

from __future__ import annotations

import enum
import functools
import uuid
from collections.abc import Collection
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, case, literal_column, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.expression import FromClause

from core.access import preloaded
from core.errors import Forbidden, NotFound
from core.models.agents import Agent, AgentPermission, AgentScope, PermissionLevel
from core.models.users import Role, User


class Access(enum.IntEnum):
    none = 0
    read = 1
    execute = 2
    edit = 3
    owner = 4


# every signed-in user may execute (hence read) an agent of these scopes
OPEN_SCOPES = (AgentScope.public, AgentScope.system)

_GRANTED = {
    PermissionLevel.read: Access.read,
    PermissionLevel.execute: Access.execute,
    PermissionLevel.edit: Access.edit,
}


def access_of(db: Session, user: User, agent: Agent) -> Access:
    if agent.owner_id == user.id or user.role == Role.admin:
        return Access.owner
    level = Access.execute if agent.scope in OPEN_SCOPES else Access.none
    granted = db.scalar(
        select(AgentPermission.level).where(
            AgentPermission.agent_id == agent.id, AgentPermission.user_id == user.id
        )
    )
    if granted is not None:
        level = max(level, _GRANTED[granted])
    return level


def may_execute_clause(users: FromClause, agents: FromClause) -> ColumnElement[bool]:
    """`access_of(user, agent) >= Access.execute` in SQL, over a row of `users` and one of
    `agents`: for a statement that checks access as it writes (core.runs.execution_rows)."""
    grants = cast(Table, AgentPermission.__table__)
    granted = (
        select(grants.c.agent_id)
        .where(
            grants.c.agent_id == agents.c.id,
            grants.c.user_id == users.c.id,
            grants.c.level.in_(
                [
                    literal_column(f"'{level.value}'")
                    for level, access in _GRANTED.items()
                    if access >= Access.execute
                ]
            ),
        )
        .exists()
    )
    return or_(
        agents.c.owner_id == users.c.id,
        users.c.role == literal_column(f"'{Role.admin.value}'"),
        agents.c.scope.in_([literal_column(f"'{scope.value}'") for scope in OPEN_SCOPES]),
        granted,
    )


# built once: most requests run one of these
_LIVE_AGENT = select(Agent).where(Agent.id == bindparam("agent_id"), Agent.deleted_at.is_(None))
# populate_existing: the locked row's values replace any read earlier in the session
_LIVE_AGENT_FOR_UPDATE = _LIVE_AGENT.with_for_update().execution_options(populate_existing=True)


def agent_for(
    db: Session, user: User, agent_id: uuid.UUID, need: Access, *, for_update: bool = False
) -> Agent:
    """The live agent if the caller holds `need`; 404 when the caller cannot even read it."""
    agent = None if for_update else preloaded.take(db, Agent, agent_id)
    if agent is None:
        stmt = _LIVE_AGENT_FOR_UPDATE if for_update else _LIVE_AGENT
        agent = db.execute(stmt, {"agent_id": agent_id}).scalar_one_or_none()
    if agent is None or agent.deleted_at is not None:
        raise NotFound("no such agent", code="agent_not_found")
    level = access_of(db, user, agent)
    if level < Access.read:
        raise NotFound("no such agent", code="agent_not_found")
    if level < need:
        raise Forbidden(
            f"this needs {need.name} access to the agent; you have {level.name}",
            code="insufficient_access",
        )
    return agent


def listed_agents_clause(user: User) -> ColumnElement[bool]:
    """What GET /agents lists: own, shared with the caller, public and system agents. Admins may
    open any agent by id, but their list is not flooded with everyone's private agents."""
    shared = select(AgentPermission.agent_id).where(AgentPermission.user_id == user.id)
    return Agent.deleted_at.is_(None) & or_(
        Agent.owner_id == user.id,
        Agent.scope.in_(OPEN_SCOPES),
        Agent.id.in_(shared),
    )


def executable_agents_clause(user_id: uuid.UUID | BindParameter[Any]) -> ColumnElement[bool]:
    """The agents `user` may run, as a list shows them (GET /v1/models): own, public and system
    ones, and those shared with them to execute or edit; live, active and not templates. (An
    admin may run any agent by id, but is not shown everyone's private agents.)"""
    # the levels and scopes written into the SQL, not bound: a statement built once
    # (runnable_agents_named) binds only the caller
    runnable: list[ColumnElement[Any]] = [
        literal_column(f"'{level.value}'")
        for level, access in _GRANTED.items()
        if access >= Access.execute
    ]
    shared = select(AgentPermission.agent_id).where(
        AgentPermission.user_id == user_id, AgentPermission.level.in_(runnable)
    )
    scopes: list[ColumnElement[Any]] = [literal_column(f"'{scope.value}'") for scope in OPEN_SCOPES]
    return (
        Agent.deleted_at.is_(None)
        & Agent.is_active.is_(True)
        & Agent.is_template.is_(False)
        & or_(Agent.owner_id == user_id, Agent.scope.in_(scopes), Agent.id.in_(shared))
    )


def runnable_agents_named(
    db: Session, user_id: uuid.UUID, names: Collection[str], *, limit: int
) -> list[tuple[uuid.UUID, str, str]]:
    """`runnable_agents` of these names, as (id, name, owner's username) only: one statement,
    built once (a protocol's call names its agent so on every request)."""
    from core.db.direct import direct

    connection = db.connection()
    rows = direct(_runnable_named(), connection.dialect).rows(
        connection, {"runner": user_id, "names": sorted(names), "most": limit}
    )
    return [(agent_id, name, username) for agent_id, name, username in rows]


@functools.cache
def _runnable_named() -> Select[Any]:
    from sqlalchemy import String, func
    from sqlalchemy.dialects.postgresql import ARRAY

    runner = bindparam("runner", type_=User.__table__.c.id.type)
    return (
        _runnable(runner, Agent.id, Agent.name)
        .where(Agent.name == func.any(bindparam("names", type_=ARRAY(String))))
        .limit(bindparam("most"))
    )


def runnable_agents(db: Session, user_id: uuid.UUID, *, limit: int) -> list[tuple[Agent, str]]:
    """The agents `user_id` may run (executable_agents_clause) with their owners' usernames,
    their own first, then by name."""
    stmt = _runnable(user_id, Agent).limit(limit)
    return [(agent, username) for agent, username in db.execute(stmt).all()]


def _runnable(runner: uuid.UUID | BindParameter[Any], *columns: Any) -> Select[Any]:
    """`columns` and the owner's username of the agents `runner` may run, their own first, then
    by name."""
    owner = cast(Table, User.__table__).alias("owner")
    return (
        select(*columns, owner.c.username)
        .join(owner, owner.c.id == Agent.owner_id)
        .where(executable_agents_clause(runner))
        .order_by(case((Agent.owner_id == runner, 0), else_=1), Agent.name, Agent.id)
    )
