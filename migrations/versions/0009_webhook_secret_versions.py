"""webhook secret versions: a user's webhook signing secret is derived from SECRET_KEY and a
version a rotation bumps (the previous one still signs for a day after)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 07:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("webhook_secret_version", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "users", sa.Column("webhook_secret_rotated_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("users", "webhook_secret_rotated_at")
    op.drop_column("users", "webhook_secret_version")
