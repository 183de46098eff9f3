"""daily cost left: what a user may still spend today in USD, for a run's cost limit to be
clamped to, and for a run of a model the price table does not know to be refused while a cost
budget applies (it would count as free)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 09:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # null: no daily cost limit applies (as take_run_slot reads it, like daily_tokens_left)
    op.execute(
        """
        CREATE FUNCTION daily_cost_left(uid uuid) RETURNS numeric
        LANGUAGE sql STABLE AS $$
            SELECT CASE WHEN budget IS NULL THEN NULL ELSE greatest(0, budget - coalesce((
                SELECT cost_usd FROM usage_days
                WHERE user_id = uid AND day = (now() AT TIME ZONE 'UTC')::date), 0)) END
            FROM (
                SELECT coalesce((limits->>'daily_cost_usd')::numeric,
                                nullif(current_setting('agents.daily_cost_usd', true), '')::numeric)
                    AS budget
                FROM users WHERE id = uid
            ) AS limits
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION daily_cost_left(uuid)")
