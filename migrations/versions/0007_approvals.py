"""approvals: executions may wait for a person's decision on tool calls (status
waiting_approval, the pending calls, the decisions, their expiry) and log it (events
approval_requested / approval_decided); a session with such a turn is busy

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 19:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ["queued", "running", "succeeded", "failed", "cancelled", "timed_out"]
EVENTS = ["user_message", "model_response", "tool_call", "tool_result", "status", "error"]
ACTIVE_TURN = "session_id IS NOT NULL AND status IN ('queued', 'running'{extra})"


def _values(values: list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _checks(statuses: list[str], events: list[str]) -> None:
    # names as the naming convention made them (op.f: used as given)
    op.drop_constraint(
        op.f("ck_agent_executions_execution_status"), "agent_executions", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_agent_executions_execution_status"),
        "agent_executions",
        f"status IN ({_values(statuses)})",
    )
    op.drop_constraint(op.f("ck_events_event_type"), "events", type_="check")
    op.create_check_constraint(
        op.f("ck_events_event_type"), "events", f"type IN ({_values(events)})"
    )


def _active_turn(extra: str) -> None:
    op.drop_index("uq_agent_executions_one_active_turn", table_name="agent_executions")
    op.create_index(
        "uq_agent_executions_one_active_turn",
        "agent_executions",
        ["session_id"],
        unique=True,
        postgresql_where=sa.text(ACTIVE_TURN.format(extra=extra)),
    )


def upgrade() -> None:
    _checks([*STATUSES, "waiting_approval"], [*EVENTS, "approval_requested", "approval_decided"])
    op.add_column(
        "agent_executions",
        sa.Column("pending_approvals", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column(
        "agent_executions",
        sa.Column("approval_decisions", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column(
        "agent_executions",
        sa.Column("approval_expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "agent_executions",
        sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "agent_executions",
        sa.Column("approval_wait_s", sa.Float(), server_default="0", nullable=False),
    )
    op.add_column(
        "agent_executions",
        sa.Column("attempt_base", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_index(
        "ix_agent_executions_approval_expires_at",
        "agent_executions",
        ["approval_expires_at"],
        postgresql_where=sa.text("status = 'waiting_approval'"),
    )
    _active_turn(", 'waiting_approval'")


def downgrade() -> None:
    op.execute("UPDATE agent_executions SET status = 'cancelled' WHERE status = 'waiting_approval'")
    op.execute("DELETE FROM events WHERE type IN ('approval_requested', 'approval_decided')")
    _active_turn("")
    op.drop_index("ix_agent_executions_approval_expires_at", table_name="agent_executions")
    for column in (
        "attempt_base",
        "approval_wait_s",
        "waiting_since",
        "approval_expires_at",
        "approval_decisions",
        "pending_approvals",
    ):
        op.drop_column("agent_executions", column)
    _checks(STATUSES, EVENTS)
