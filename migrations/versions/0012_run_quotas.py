"""run quotas: each user's unfinished top-level runs are counted in users.active_runs, taken by
the run's INSERT (a trigger that refuses it, SQLSTATE AQ001, when the user is at their limit of
concurrent runs or has spent the day's tokens or cost) and given back when the run ends; per-user
overrides in users.limits, the service's defaults in the session settings agents.* (set on each
new connection)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TERMINAL = "('succeeded', 'failed', 'cancelled', 'timed_out')"
DAY = "(coalesce(NEW.finished_at, now()) AT TIME ZONE 'UTC')::date"


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("active_runs", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "users",
        sa.Column(
            "limits",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.execute(
        f"""
        UPDATE users SET active_runs = counted.n
        FROM (
            SELECT user_id, count(*) AS n FROM agent_executions
            WHERE parent_execution_id IS NULL AND status NOT IN {TERMINAL}
            GROUP BY user_id
        ) AS counted
        WHERE users.id = counted.user_id
        """  # noqa: S608 (module constants, no input)
    )
    # the slot is taken by the row actually inserted (not by a start that an idempotency key or
    # a busy session turned into nothing); the user's row lock makes parallel starts queue, and
    # each re-reads the count the one before it left
    op.execute(
        """
        CREATE FUNCTION take_run_slot() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            lim jsonb;
            used record;
            max_runs int;
            max_tokens bigint;
            max_cost numeric;
        BEGIN
            SELECT limits INTO lim FROM users WHERE id = NEW.user_id;
            max_runs := coalesce((lim->>'max_concurrent_runs')::int,
                                 nullif(current_setting('agents.max_concurrent_runs', true), '')::int);
            max_tokens := coalesce((lim->>'daily_tokens')::bigint,
                                   nullif(current_setting('agents.daily_tokens', true), '')::bigint);
            max_cost := coalesce((lim->>'daily_cost_usd')::numeric,
                                 nullif(current_setting('agents.daily_cost_usd', true), '')::numeric);
            IF max_tokens IS NOT NULL OR max_cost IS NOT NULL THEN
                SELECT input_tokens + output_tokens AS tokens, cost_usd INTO used
                FROM usage_days
                WHERE user_id = NEW.user_id AND day = (now() AT TIME ZONE 'UTC')::date;
                IF max_tokens IS NOT NULL AND coalesce(used.tokens, 0) >= max_tokens THEN
                    RAISE EXCEPTION 'daily_tokens %', max_tokens USING ERRCODE = 'AQ001';
                END IF;
                IF max_cost IS NOT NULL AND coalesce(used.cost_usd, 0) >= max_cost THEN
                    RAISE EXCEPTION 'daily_cost_usd %', max_cost USING ERRCODE = 'AQ001';
                END IF;
            END IF;
            UPDATE users SET active_runs = active_runs + 1
            WHERE id = NEW.user_id AND (max_runs IS NULL OR active_runs < max_runs);
            IF NOT FOUND THEN
                RAISE EXCEPTION 'max_concurrent_runs %', max_runs USING ERRCODE = 'AQ001';
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER agent_executions_take_run_slot AFTER INSERT ON agent_executions
        FOR EACH ROW WHEN (NEW.parent_execution_id IS NULL AND NEW.status NOT IN {TERMINAL})
        EXECUTE FUNCTION take_run_slot()
        """
    )
    # a run that ends gives its slot back, in the trigger that counts its usage
    op.execute(_count_usage(give_back_slot=True))


def downgrade() -> None:
    op.execute(_count_usage(give_back_slot=False))  # as 0011 made it
    op.execute("DROP TRIGGER agent_executions_take_run_slot ON agent_executions")
    op.execute("DROP FUNCTION take_run_slot()")
    op.drop_column("users", "limits")
    op.drop_column("users", "active_runs")


def _count_usage(*, give_back_slot: bool) -> str:
    give_back = (
        "UPDATE users SET active_runs = greatest(active_runs - 1, 0) WHERE id = NEW.user_id;"
        if give_back_slot
        else ""
    )
    return f"""
        CREATE OR REPLACE FUNCTION count_usage() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO usage_days AS u
                (user_id, day, executions, input_tokens, output_tokens, cost_usd)
            VALUES (NEW.user_id, {DAY}, 1, NEW.input_tokens,
                    NEW.output_tokens, coalesce(NEW.cost, 0))
            ON CONFLICT (user_id, day) DO UPDATE SET
                executions = u.executions + 1,
                input_tokens = u.input_tokens + EXCLUDED.input_tokens,
                output_tokens = u.output_tokens + EXCLUDED.output_tokens,
                cost_usd = u.cost_usd + EXCLUDED.cost_usd;
            {give_back}
            RETURN NULL;
        END
        $$
        """  # noqa: S608 (module constants, no input)
