"""usage days: each user's executions, tokens and cost per UTC day, kept by a trigger as runs
end (a top-level run only: a workflow's usage already counts its steps'), so a year of usage
reads 366 rows; filled from the runs that ended before

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 07:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TERMINAL = "('succeeded', 'failed', 'cancelled', 'timed_out')"
DAY = "(coalesce({row}.finished_at, now()) AT TIME ZONE 'UTC')::date"


def upgrade() -> None:
    op.create_table(
        "usage_days",
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("executions", sa.Integer(), server_default="0", nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cost_usd", sa.Numeric(18, 6), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_usage_days_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_usage_days")),
    )
    op.execute(
        f"""
        CREATE FUNCTION count_usage() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO usage_days AS u
                (user_id, day, executions, input_tokens, output_tokens, cost_usd)
            VALUES (NEW.user_id, {DAY.format(row="NEW")}, 1, NEW.input_tokens,
                    NEW.output_tokens, coalesce(NEW.cost, 0))
            ON CONFLICT (user_id, day) DO UPDATE SET
                executions = u.executions + 1,
                input_tokens = u.input_tokens + EXCLUDED.input_tokens,
                output_tokens = u.output_tokens + EXCLUDED.output_tokens,
                cost_usd = u.cost_usd + EXCLUDED.cost_usd;
            RETURN NULL;
        END
        $$
        """  # noqa: S608 (module constants, no input)
    )
    # a run ends once: from a live status to a terminal one
    op.execute(
        f"""
        CREATE TRIGGER agent_executions_count_usage AFTER UPDATE OF status ON agent_executions
        FOR EACH ROW
        WHEN (NEW.parent_execution_id IS NULL AND NEW.status IN {TERMINAL}
              AND OLD.status NOT IN {TERMINAL})
        EXECUTE FUNCTION count_usage()
        """
    )
    op.execute(
        f"""
        INSERT INTO usage_days (user_id, day, executions, input_tokens, output_tokens, cost_usd)
        SELECT e.user_id, {DAY.format(row="e")}, count(*), sum(e.input_tokens),
               sum(e.output_tokens), sum(coalesce(e.cost, 0))
        FROM agent_executions AS e
        WHERE e.parent_execution_id IS NULL AND e.status IN {TERMINAL}
        GROUP BY 1, 2
        """  # noqa: S608 (module constants, no input)
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER agent_executions_count_usage ON agent_executions")
    op.execute("DROP FUNCTION count_usage()")
    op.drop_table("usage_days")
