"""quota functions from core.runs.quotas: the module that owns the quota rule holds their SQL;
this revision makes the database hold it (the triggers' bodies as 0011-0020 left them; the day's
tokens and cost left in plpgsql, which keeps its plans, where the SQL functions were planned at
every run's start)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 15:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

from core.runs.quotas import create_functions

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for statement in create_functions():
        op.execute(statement)


def downgrade() -> None:
    pass  # the same answers as 0015 and 0020 gave: nothing to undo
