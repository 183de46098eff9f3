"""Rows written straight through the ORM, for tests that need a session without the API."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from core.models.agents import Agent
from core.models.sessions import AgentSession
from core.models.users import User


def session_row(db: Session) -> AgentSession:
    """A new user's session with a new agent of theirs (flushed, not committed)."""
    user = User(
        username=f"u_{uuid.uuid4().hex[:8]}", email=f"{uuid.uuid4().hex}@x.io", password_hash="x"
    )
    db.add(user)
    db.flush()
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
