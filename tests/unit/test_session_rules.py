"""A session's rules on rows held in memory: no database is reached."""

from __future__ import annotations

import uuid

import pytest

from core.errors import Conflict
from core.models.sessions import AgentSession, SessionStatus
from core.runs.session_rules import check_agent, check_open


def _session(agent_id: uuid.UUID, status: SessionStatus = SessionStatus.active) -> AgentSession:
    return AgentSession(id=uuid.uuid4(), user_id=uuid.uuid4(), agent_id=agent_id, status=status)


def test_a_session_takes_turns_with_its_own_agent_while_it_is_open() -> None:
    agent_id = uuid.uuid4()
    check_open(_session(agent_id), agent_id)


def test_another_agents_turn_is_a_conflict_naming_the_mismatch() -> None:
    with pytest.raises(Conflict) as refused:
        check_open(_session(uuid.uuid4()), uuid.uuid4())
    assert refused.value.code == "session_agent_mismatch"
    with pytest.raises(Conflict):
        check_agent(_session(uuid.uuid4()), uuid.uuid4())


def test_an_archived_session_takes_no_turn_but_still_knows_its_agent() -> None:
    agent_id = uuid.uuid4()
    archived = _session(agent_id, SessionStatus.archived)
    check_agent(archived, agent_id)
    with pytest.raises(Conflict) as refused:
        check_open(archived, agent_id)
    assert refused.value.code == "session_archived"
