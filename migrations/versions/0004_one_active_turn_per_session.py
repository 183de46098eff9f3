"""executions: at most one active turn per session, enforced by a partial unique index

A session's turns never overlap (the next message waits for the running one: `session_busy`).
The index makes that a property of the table, so the statement that starts a turn can check it
as it inserts (ON CONFLICT DO NOTHING) instead of reading the session's runs first, and two
turns started at once cannot both slip through.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "uq_agent_executions_one_active_turn",
        "agent_executions",
        ["session_id"],
        unique=True,
        postgresql_where=sa.text("session_id IS NOT NULL AND status IN ('queued', 'running')"),
    )


def downgrade() -> None:
    op.drop_index("uq_agent_executions_one_active_turn", table_name="agent_executions")
