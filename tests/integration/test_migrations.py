"""The migrations and the models describe the same schema, in both directions."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.db.migrate import downgrade_to_base, head_revision, include_object, upgrade_to_head
from core.db.revision import SCHEMA_HEAD
from core.models import all_models
from tests.support.databases import scratch_database


@pytest.fixture
def empty_database(database_url: str):
    with scratch_database(database_url, "agents_migrations", migrated=False) as url:
        engine = sa.create_engine(url)
        yield engine
        engine.dispose()


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_upgrade_head_then_models_match_then_downgrade_base(empty_database):
    upgrade_to_head(empty_database)
    assert set(all_models().tables) <= _tables(empty_database)

    with empty_database.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object}
        )
        differences = compare_metadata(context, all_models())
    assert differences == []

    downgrade_to_base(empty_database)
    assert _tables(empty_database) == {"alembic_version"}

    upgrade_to_head(empty_database)  # and the chain replays cleanly
    assert set(all_models().tables) <= _tables(empty_database)


def test_readiness_constant_matches_migration_head():
    assert head_revision() == SCHEMA_HEAD


def test_case_insensitive_unique_username_is_enforced_by_the_database(db):
    from core.models.users import User

    db.add(User(username="Casey", email="casey@example.com", password_hash="x"))
    db.flush()
    db.add(User(username="casey", email="other@example.com", password_hash="x"))
    with pytest.raises(sa.exc.IntegrityError):
        db.flush()


def test_downgrading_0003_gives_sessions_back_their_history(empty_database):
    from datetime import timedelta

    from sqlalchemy.orm import Session

    from core.clock import utcnow
    from core.models.executions import AgentExecution, ExecutionStatus
    from core.models.sessions import AgentSession

    upgrade_to_head(empty_database)
    with Session(empty_database) as db:
        user, agent = _user_and_agent(db)
        session = AgentSession(user_id=user.id, agent_id=agent.id)
        db.add(session)
        db.flush()
        turns = (("one", "succeeded"), ("x", "failed"), ("two", "succeeded"))
        for minute, (content, status) in enumerate(turns):
            db.add(
                AgentExecution(
                    agent_id=agent.id,
                    agent_version="1.0.0",
                    user_id=user.id,
                    session_id=session.id,
                    status=ExecutionStatus(status),
                    messages=[{"kind": "request", "parts": [{"content": content}]}],
                    created_at=utcnow() + timedelta(minutes=minute),
                )
            )
        db.commit()
    _downgrade(empty_database, "0002")
    with empty_database.connect() as conn:
        kept = conn.execute(sa.text("SELECT messages FROM sessions")).scalar_one()
    assert [m["parts"][0]["content"] for m in kept] == ["one", "two"]
    upgrade_to_head(empty_database)


def test_0011_and_0012_count_the_runs_that_came_before_them(empty_database):
    from sqlalchemy.orm import Session

    from core.clock import utcnow
    from core.models.executions import AgentExecution, ExecutionStatus

    upgrade_to_head(empty_database)
    with Session(empty_database) as db:
        user, agent = _user_and_agent(db)
        runs = []
        for status, tokens in (("succeeded", 10), ("failed", 5), ("running", 99), ("succeeded", 7)):
            runs.append(
                AgentExecution(
                    agent_id=agent.id,
                    agent_version="1.0.0",
                    user_id=user.id,
                    status=ExecutionStatus(status),
                    input_tokens=tokens,
                    finished_at=utcnow(),
                )
            )
            db.add(runs[-1])
            db.flush()
        # the last one is a step of the first: its tokens are in its parent's already
        runs[-1].parent_execution_id = runs[0].id
        db.commit()
    _downgrade(empty_database, "0010")
    upgrade_to_head(empty_database)
    with empty_database.connect() as conn:
        row = conn.execute(sa.text("SELECT executions, input_tokens FROM usage_days")).one()
        active = conn.execute(sa.text("SELECT active_runs FROM users")).scalar_one()
    assert tuple(row) == (2, 15)
    assert active == 1  # the unfinished top-level run


def _user_and_agent(db: Any) -> tuple[Any, Any]:
    from core.models.agents import Agent
    from core.models.users import User

    user = User(username="u", email="u@example.com", password_hash="x")
    db.add(user)
    db.flush()
    agent = Agent(name="a", display_name="A", owner_id=user.id, definition={}, version="1.0.0")
    db.add(agent)
    db.flush()
    return user, agent


def _downgrade(engine: sa.Engine, revision: str) -> None:
    from alembic import command

    from core.db.migrate import alembic_config

    with engine.begin() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
