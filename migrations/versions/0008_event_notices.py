"""event notices: every statement that adds events notifies channel `run_events` once per
execution and session it wrote to (payload "<execution_id> <session_id>"), delivered at commit, and
so does deleting a session or an execution (its followers end); live followers wait on it
instead of polling

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 06:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a statement-level trigger: a run's batch of events is one multi-row INSERT and one notice
    op.execute(
        """
        CREATE FUNCTION notify_run_events() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('run_events', owner)
            FROM (
                SELECT DISTINCT coalesce(execution_id::text, '') || ' '
                    || coalesce(session_id::text, '') AS owner
                FROM new_events
            ) AS owners;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER events_notify AFTER INSERT ON events
        REFERENCING NEW TABLE AS new_events
        FOR EACH STATEMENT EXECUTE FUNCTION notify_run_events()
        """
    )

    for table, owner in (("sessions", "' ' || id::text"), ("agent_executions", "id::text")):
        op.execute(
            f"""
            CREATE FUNCTION notify_{table}_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('run_events', {owner}) FROM gone;
                RETURN NULL;
            END
            $$
            """
        )
        op.execute(
            f"""
            CREATE TRIGGER {table}_notify AFTER DELETE ON {table}
            REFERENCING OLD TABLE AS gone
            FOR EACH STATEMENT EXECUTE FUNCTION notify_{table}_deleted()
            """
        )


def downgrade() -> None:
    for table in ("sessions", "agent_executions"):
        op.execute(f"DROP TRIGGER {table}_notify ON {table}")
        op.execute(f"DROP FUNCTION notify_{table}_deleted()")
    op.execute("DROP TRIGGER events_notify ON events")
    op.execute("DROP FUNCTION notify_run_events()")
