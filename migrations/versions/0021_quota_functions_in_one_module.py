"""quota functions as core.runs.quotas states them: the triggers' bodies as 0011-0020 left
them, and the day's tokens and cost left in plpgsql, which keeps its plans, where the SQL
functions were planned at every run's start. A frozen copy, as a migration must be: the module
is the rule, and tests/integration/test_quotas.py fails when the database a fresh migration makes
holds other bodies than the module's (a change there needs a migration like this one)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 15:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = [
    """CREATE OR REPLACE FUNCTION take_run_slot() RETURNS trigger LANGUAGE plpgsql  AS $$
        DECLARE
            lim jsonb;
            used record;
            max_runs int;
            max_tokens bigint;
            max_cost numeric;
        BEGIN
            SELECT limits INTO lim FROM users WHERE id = NEW.user_id;
            max_runs := coalesce((lim->>'max_concurrent_runs')::int, nullif(current_setting('agents.max_concurrent_runs', true), '')::int);
            max_tokens := coalesce((lim->>'daily_tokens')::bigint, nullif(current_setting('agents.daily_tokens', true), '')::bigint);
            max_cost := coalesce((lim->>'daily_cost_usd')::numeric, nullif(current_setting('agents.daily_cost_usd', true), '')::numeric);
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
                RAISE EXCEPTION 'max_concurrent_runs %', max_runs
                    USING ERRCODE = 'AQ001';
            END IF;
            RETURN NULL;
        END
        $$""",
    """CREATE OR REPLACE FUNCTION hold_run_slot() RETURNS trigger LANGUAGE plpgsql  AS $$
        BEGIN
            IF NEW.status = 'waiting_approval' THEN
                UPDATE users SET active_runs = greatest(active_runs - 1, 0)
                WHERE id = NEW.user_id;
            ELSE
                UPDATE users SET active_runs = active_runs + 1 WHERE id = NEW.user_id;
            END IF;
            RETURN NULL;
        END
        $$""",
    """CREATE OR REPLACE FUNCTION count_usage() RETURNS trigger LANGUAGE plpgsql  AS $$
        BEGIN
            INSERT INTO usage_days AS u
                (user_id, day, executions, input_tokens, output_tokens, cost_usd)
            VALUES (NEW.user_id, (coalesce(NEW.finished_at, now()) AT TIME ZONE 'UTC')::date, 1,
                    NEW.input_tokens, NEW.output_tokens, coalesce(NEW.cost, 0))
            ON CONFLICT (user_id, day) DO UPDATE SET
                executions = u.executions + 1,
                input_tokens = u.input_tokens + EXCLUDED.input_tokens,
                output_tokens = u.output_tokens + EXCLUDED.output_tokens,
                cost_usd = u.cost_usd + EXCLUDED.cost_usd;
            IF OLD.status <> 'waiting_approval' THEN
                UPDATE users SET active_runs = greatest(active_runs - 1, 0) WHERE id = NEW.user_id;
            END IF;
            RETURN NULL;
        END
        $$""",
    """CREATE OR REPLACE FUNCTION daily_tokens_left(uid uuid) RETURNS bigint LANGUAGE plpgsql STABLE AS $$
        DECLARE
            budget bigint;
            spent bigint;
        BEGIN
            SELECT coalesce((limits->>'daily_tokens')::bigint, nullif(current_setting('agents.daily_tokens', true), '')::bigint) INTO budget FROM users WHERE id = uid;
            IF budget IS NULL THEN
                RETURN NULL;
            END IF;
            SELECT input_tokens + output_tokens INTO spent FROM usage_days
            WHERE user_id = uid AND day = (now() AT TIME ZONE 'UTC')::date;
            RETURN greatest(0, budget - coalesce(spent, 0));
        END
        $$""",
    """CREATE OR REPLACE FUNCTION daily_cost_left(uid uuid) RETURNS numeric LANGUAGE plpgsql STABLE AS $$
        DECLARE
            budget numeric;
            spent numeric;
        BEGIN
            SELECT coalesce((limits->>'daily_cost_usd')::numeric, nullif(current_setting('agents.daily_cost_usd', true), '')::numeric) INTO budget FROM users WHERE id = uid;
            IF budget IS NULL THEN
                RETURN NULL;
            END IF;
            SELECT cost_usd INTO spent FROM usage_days
            WHERE user_id = uid AND day = (now() AT TIME ZONE 'UTC')::date;
            RETURN greatest(0, budget - coalesce(spent, 0));
        END
        $$""",
]


def upgrade() -> None:
    for statement in FUNCTIONS:
        op.execute(statement)


def downgrade() -> None:
    pass  # the same answers as 0011-0020 gave: nothing to undo
