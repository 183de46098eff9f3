"""sessions: the conversation is read from the session's succeeded turns, not kept on the session

Every turn's execution already holds the messages it added (agent_executions.messages); the
session kept a second, ever-growing copy that each turn rewrote whole. The history is now the
succeeded turns' messages in turn order (core.runs.session_history).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_column("sessions", "messages")


def downgrade() -> None:
    op.add_column(
        "sessions",
        sa.Column(
            "messages",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.execute(
        """
        UPDATE sessions AS s SET messages = history.messages
        FROM (
            SELECT e.session_id, jsonb_agg(m.message ORDER BY e.created_at, e.id, m.position)
                AS messages
            FROM agent_executions AS e,
                jsonb_array_elements(e.messages) WITH ORDINALITY AS m(message, position)
            WHERE e.status = 'succeeded' AND e.session_id IS NOT NULL
            GROUP BY e.session_id
        ) AS history
        WHERE history.session_id = s.id
        """
    )
