"""Keeping the database's built-in agents equal to core/agents/builtin: run by `migrate` (and by
`make dev` at start) after the schema migrations, in one transaction, safe to run at once from
two places (an advisory lock).

They belong to the system account: a user row that cannot sign in (no password matches, it is
inactive, and its name and email are ones registration refuses)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.agents.builtin import BUILTIN_AGENTS, BuiltinAgent
from core.clock import SYSTEM_CLOCK, Clock
from core.config import Settings
from core.definition import AgentDefinition
from core.models.agents import Agent, AgentKind, AgentScope
from core.models.users import Role, User
from core.services.agents import (
    FIRST_VERSION,
    add_first_version,
    checked_definition,
    new_version,
    type_of,
)

SYSTEM_USER_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
SYSTEM_USERNAME = "system:builtin"  # ':' is refused in registered usernames
_LOCK = "core.services.builtin_agents"


def sync_builtin_agents(
    db: Session,
    settings: Settings,
    builtins: Iterable[BuiltinAgent] = BUILTIN_AGENTS,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> dict[str, int]:
    """Create, update (a changed definition is a new version) or retire the built-in agents."""
    db.execute(select(func.pg_advisory_xact_lock(func.hashtext(_LOCK))))
    system = _system_user(db)
    live = {
        agent.name: agent
        for agent in db.scalars(
            select(Agent).where(Agent.owner_id == system.id, Agent.deleted_at.is_(None))
        )
    }
    counts = {"created": 0, "updated": 0, "retired": 0, "unchanged": 0}
    for builtin in builtins:
        given = AgentDefinition.model_validate(builtin.definition)
        definition = checked_definition(given, settings, loc=("builtin", builtin.name))
        agent = live.pop(builtin.name, None)
        if agent is None:
            agent = Agent(
                name=builtin.name,
                display_name=builtin.display_name,
                description=builtin.description,
                owner_id=system.id,
                scope=AgentScope.system,
                agent_kind=AgentKind(builtin.kind),
                agent_type=type_of(given),
                version=FIRST_VERSION,
                definition=definition,
                metadata_={"builtin": True},
            )
            db.add(agent)
            db.flush()
            add_first_version(db, agent, created_by=system.id, note="built in")
            counts["created"] += 1
            continue
        changed = (agent.display_name, agent.description, agent.agent_kind) != (
            builtin.display_name,
            builtin.description,
            AgentKind(builtin.kind),
        )
        agent.display_name, agent.description = builtin.display_name, builtin.description
        agent.agent_kind = AgentKind(builtin.kind)
        if definition != agent.definition:
            new_version(
                db,
                agent,
                definition,
                user=system,
                note="synced from core/agents/builtin",
                clock=clock,
            )
            agent.agent_type = type_of(given)
            changed = True
        counts["updated" if changed else "unchanged"] += 1
    now = clock.now()
    for retired in live.values():  # no longer in the code
        retired.deleted_at, retired.is_active = now, False
        counts["retired"] += 1
    db.flush()
    return counts


def _system_user(db: Session) -> User:
    db.execute(
        insert(User)
        .values(
            id=SYSTEM_USER_ID,
            username=SYSTEM_USERNAME,
            email="system",  # not an address: registration never accepts it
            password_hash="!",  # no password hashes to this
            role=Role.user,
            is_active=False,
            profile=text("'{}'::jsonb"),
        )
        .on_conflict_do_nothing()
    )
    system = db.get(User, SYSTEM_USER_ID)
    assert system is not None
    return system
