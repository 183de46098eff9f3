"""session summaries: a session's running summary of the turns its context budget folded away
(the event log keeps them all), and the events that say so (context_summarized) or that
memories were drawn from a turn (memory_extracted)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 17:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENTS = [
    "user_message",
    "model_response",
    "tool_call",
    "tool_result",
    "status",
    "error",
    "approval_requested",
    "approval_decided",
    "mcp_server_skipped",
]
NEW = ["context_summarized", "memory_extracted"]


def _event_types(values: list[str]) -> None:
    op.drop_constraint(op.f("ck_events_event_type"), "events", type_="check")
    listed = ", ".join(f"'{v}'" for v in values)
    op.create_check_constraint(op.f("ck_events_event_type"), "events", f"type IN ({listed})")


def upgrade() -> None:
    op.add_column("sessions", sa.Column("summary", sa.Text(), server_default="", nullable=False))
    op.add_column(
        "sessions",
        sa.Column("summary_turns", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    _event_types([*EVENTS, *NEW])


def downgrade() -> None:
    op.execute("DELETE FROM events WHERE type IN ('context_summarized', 'memory_extracted')")
    _event_types(EVENTS)
    op.drop_column("sessions", "summary_turns")
    op.drop_column("sessions", "summary")
