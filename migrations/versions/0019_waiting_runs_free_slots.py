"""waiting runs free their slot: a top-level run stopped for a person's approval gives its
concurrent-run slot back (nobody holds it; it may wait a day) and takes one again when a decision
sends it back to the queue. The decision is a person's, so taking the slot again is never refused:
the user may briefly be over their limit, and new starts wait until they are under it again.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 09:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TERMINAL = "('succeeded', 'failed', 'cancelled', 'timed_out')"
DAY = "(coalesce(NEW.finished_at, now()) AT TIME ZONE 'UTC')::date"


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION hold_run_slot() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.status = 'waiting_approval' THEN
                UPDATE users SET active_runs = greatest(active_runs - 1, 0)
                WHERE id = NEW.user_id;
            ELSE
                UPDATE users SET active_runs = active_runs + 1 WHERE id = NEW.user_id;
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    # into waiting from a live status, or out of waiting to a live one (out of waiting to an end,
    # count_usage gives nothing back: the slot was given back when the wait began)
    op.execute(
        f"""
        CREATE TRIGGER agent_executions_hold_run_slot AFTER UPDATE OF status ON agent_executions
        FOR EACH ROW
        WHEN (NEW.parent_execution_id IS NULL AND OLD.status IS DISTINCT FROM NEW.status
              AND ((NEW.status = 'waiting_approval' AND OLD.status NOT IN {TERMINAL})
                   OR (OLD.status = 'waiting_approval' AND NEW.status NOT IN {TERMINAL})))
        EXECUTE FUNCTION hold_run_slot()
        """
    )
    op.execute(_count_usage(give_back="OLD.status <> 'waiting_approval'"))
    op.execute(_recount(waiting_holds=False))


def downgrade() -> None:
    op.execute(_count_usage(give_back="true"))  # as 0012 made it
    op.execute("DROP TRIGGER agent_executions_hold_run_slot ON agent_executions")
    op.execute("DROP FUNCTION hold_run_slot()")
    op.execute(_recount(waiting_holds=True))


def _recount(*, waiting_holds: bool) -> str:
    ended = TERMINAL if waiting_holds else TERMINAL[:-1] + ", 'waiting_approval')"
    return f"""
        UPDATE users SET active_runs = coalesce((
            SELECT count(*) FROM agent_executions
            WHERE user_id = users.id AND parent_execution_id IS NULL AND status NOT IN {ended}
        ), 0)
        """  # noqa: S608 (module constants, no input)


def _count_usage(*, give_back: str) -> str:
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
            IF {give_back} THEN
                UPDATE users SET active_runs = greatest(active_runs - 1, 0) WHERE id = NEW.user_id;
            END IF;
            RETURN NULL;
        END
        $$
        """  # noqa: S608 (module constants, no input)
