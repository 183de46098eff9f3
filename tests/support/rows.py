"""Rows written straight through the ORM, for tests that need a session without the API."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from core.clock import utcnow
from core.models.agents import Agent
from core.models.executions import AgentExecution, ExecutionMode, ExecutionStatus, WorkflowType
from core.models.sessions import AgentSession
from core.models.users import Role, User


def user_row(db: Session, role: Role = Role.user) -> User:
    """A new user (flushed, not committed)."""
    user = User(
        username=f"u_{uuid.uuid4().hex[:8]}",
        email=f"{uuid.uuid4().hex}@x.io",
        password_hash="x",
        role=role,
    )
    db.add(user)
    db.flush()
    return user


def new_run(
    *, agent_id: str | uuid.UUID, user_id: str | uuid.UUID, **values: Any
) -> AgentExecution:
    """A transient execution (`execution_rows.new_execution`) of a queued async run of version
    1.0.0, with `values` instead where given; not written."""
    from core.runs.execution_rows import new_execution

    now = utcnow()
    defaults: dict[str, Any] = {
        "id": uuid.uuid4(),
        "agent_id": uuid.UUID(str(agent_id)),
        "agent_version": "1.0.0",
        "user_id": uuid.UUID(str(user_id)),
        "status": ExecutionStatus.queued,
        "mode": ExecutionMode.async_,
        "workflow_type": WorkflowType.single,
        "input": "hello",
        "attempt": 0,
        "created_at": now,
        "updated_at": now,
    }
    return new_execution(**(defaults | values))


def session_row(db: Session) -> AgentSession:
    """A new user's session with a new agent of theirs (flushed, not committed)."""
    user = user_row(db)
    agent = Agent(
        name=f"a_{uuid.uuid4().hex[:8]}",
        display_name="a",
        owner_id=user.id,
        definition={},
        version="1.0.0",
    )
    db.add(agent)
    db.flush()
    session = AgentSession(user_id=user.id, agent_id=agent.id)
    db.add(session)
    db.flush()
    return session
