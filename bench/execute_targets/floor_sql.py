"""A second reference for bench/execute.py: the floor's handler plus the round trips a
persisted run cannot avoid, as trivial statements (`SELECT n` through SQLAlchemy and our pg8000
dialect) in a transaction before the model call and one after, each COMMIT sent with the last
statement: `FLOOR_SQL_STATEMENTS` round trips in all (default 2, what a sync execute sends).
It shows what round trips alone cost under concurrent load, where each one hands the GIL to
another thread."""

from __future__ import annotations

import asyncio
import os

import flask
import sqlalchemy as sa
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel

from core.db.engine import pg8000_url
from core.db.options import then_commit

agent = Agent(TestModel(), system_prompt="be brief")
engine = sa.create_engine(pg8000_url(os.environ["DATABASE_URL"]), pool_size=10)
SELECT = sa.text("SELECT :n")
STATEMENTS = int(os.environ.get("FLOOR_SQL_STATEMENTS", "2"))


def floor_sql(request: flask.Request) -> dict[str, str]:
    prompt = str((request.get_json(silent=True) or {}).get("input", ""))
    before = STATEMENTS // 2 or 1
    _transaction(before)
    result = asyncio.run(agent.run(prompt))
    _transaction(STATEMENTS - before)
    return {"output": str(result.output)}


def _transaction(statements: int) -> None:
    """`statements` round trips: the COMMIT travels with the last one, as in the service."""
    with engine.connect() as conn:
        for n in range(statements):
            options = then_commit() if n == statements - 1 else {}
            conn.execute(SELECT, {"n": n}, execution_options=options).all()
        conn.commit()
