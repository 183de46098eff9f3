"""a2a_agent_skipped: the event of a remote A2A agent a run leaves out (its credential may not
go to its host), beside mcp_server_skipped

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 22:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
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
    "context_summarized",
    "memory_extracted",
]


def _event_types(values: list[str]) -> None:
    op.drop_constraint(op.f("ck_events_event_type"), "events", type_="check")
    listed = ", ".join(f"'{v}'" for v in values)
    op.create_check_constraint(op.f("ck_events_event_type"), "events", f"type IN ({listed})")


def upgrade() -> None:
    _event_types([*EVENTS, "a2a_agent_skipped"])


def downgrade() -> None:
    op.execute("DELETE FROM events WHERE type = 'a2a_agent_skipped'")
    _event_types(EVENTS)
