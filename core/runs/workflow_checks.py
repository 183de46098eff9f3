"""What a workflow definition may name as steps: agents the owner may execute, without a cycle
and not nested deeper than MAX_NESTING (checked when the agent is created or changed)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from core.access.agents import Access, agent_for
from core.definition import AgentDefinition
from core.errors import DomainError
from core.models.agents import Agent
from core.models.users import User

MAX_NESTING = 5


def check_steps(
    db: Session,
    *,
    user: User,
    definition: AgentDefinition,
    agent_id: uuid.UUID | None,
    loc: tuple[str | int, ...],
) -> None:
    """404 naming each step (and each agent the delegate tool names) the caller may not execute
    or that does not exist (another user's private agent is not there for them); 409 when a step
    leads back to this agent."""
    from core.errors import Conflict, NotFound, field_error

    problems: list[dict[str, Any]] = []
    cycles: list[dict[str, Any]] = []
    if definition.workflow is not None:
        for index, step_id in enumerate(definition.workflow.steps):
            here = [*loc, "workflow", "steps", index]
            try:
                step = agent_for(db, user, step_id, Access.execute)
            except DomainError:
                problems.append(
                    field_error(
                        here,
                        f"agent {step_id} is missing or you may not execute it",
                        "step_not_executable",
                    )
                )
                continue
            if agent_id is not None and _reaches(db, step, agent_id, depth=0):
                cycles.append(
                    field_error(
                        here, f"agent {step_id} leads back to this workflow (a cycle)", "cycle"
                    )
                )
    for index, tool in enumerate(definition.tools):
        if tool.name != "delegate":
            continue
        for position, target in enumerate(tool.config.get("agents", [])):
            try:
                agent_for(db, user, uuid.UUID(str(target)), Access.execute)
            except (DomainError, ValueError):
                problems.append(
                    field_error(
                        [*loc, "tools", index, "config", "agents", position],
                        f"agent {target} is missing or you may not execute it",
                        "step_not_executable",
                    )
                )
    if problems:
        raise NotFound(
            "the definition names agents you cannot run", code="agent_not_found", details=problems
        )
    if cycles:
        raise Conflict("a workflow step leads back to this agent", code="cycle", details=cycles)


def _reaches(db: Session, agent: Agent, target: uuid.UUID, depth: int) -> bool:
    """Whether `agent`'s workflow steps lead (directly or through other workflows) to `target`."""
    if agent.id == target:
        return True
    if depth > MAX_NESTING:
        return True  # deeper than any workflow may nest: treat as a cycle
    steps = (agent.definition.get("workflow") or {}).get("steps") or []
    for step_id in steps:
        step = db.get(Agent, uuid.UUID(str(step_id)))
        if step is not None and _reaches(db, step, target, depth + 1):
            return True
    return False
