"""lease holders: a running execution names the process that holds its lease, so a restarted
`make dev` ends the leases of the process it replaces at once

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "agent_executions", sa.Column("lease_holder", sa.String(length=80), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("agent_executions", "lease_holder")
