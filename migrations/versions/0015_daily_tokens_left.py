"""daily tokens left: what a user may still spend today, for a run's limits to be clamped to

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 09:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # null: no daily token limit applies (the user's override, else the service's default,
    # as take_run_slot reads them); runs still in flight are not counted (each is clamped)
    op.execute(
        """
        CREATE FUNCTION daily_tokens_left(uid uuid) RETURNS bigint
        LANGUAGE sql STABLE AS $$
            SELECT CASE WHEN budget IS NULL THEN NULL ELSE greatest(0, budget - coalesce((
                SELECT input_tokens + output_tokens FROM usage_days
                WHERE user_id = uid AND day = (now() AT TIME ZONE 'UTC')::date), 0)) END
            FROM (
                SELECT coalesce((limits->>'daily_tokens')::bigint,
                                nullif(current_setting('agents.daily_tokens', true), '')::bigint)
                    AS budget
                FROM users WHERE id = uid
            ) AS limits
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION daily_tokens_left(uuid)")
