"""agent_marketplace.eval_pass_rate: the pass rate of the eval that let a listing's published
version through its agent's release gate (null without a gate)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 02:35:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("agent_marketplace", sa.Column("eval_pass_rate", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("agent_marketplace", "eval_pass_rate")
