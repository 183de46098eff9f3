"""agents: their kind (static: defined in code, dynamic: made through the API, template) and
whether an admin offers a dynamic agent as a template

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 16:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "agents",
        sa.Column(
            "agent_kind",
            sa.Enum(
                "static",
                "dynamic",
                "template",
                name="agent_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="dynamic",
            nullable=False,
        ),
    )
    op.add_column(
        "agents",
        sa.Column("is_template", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.create_index(
        "ix_agents_templates",
        "agents",
        ["created_at"],
        postgresql_where=sa.text("deleted_at IS NULL AND (agent_kind = 'template' OR is_template)"),
    )


def downgrade() -> None:
    op.drop_index("ix_agents_templates", table_name="agents")
    op.drop_column("agents", "is_template")
    op.drop_column("agents", "agent_kind")
