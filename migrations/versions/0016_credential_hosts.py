"""credential hosts: each credential names the hosts it may be sent to (existing ones name none,
so they are sent nowhere until their owner sets them), where each was last sent, and the event
that says a run left an MCP server out because of it

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
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
]


def _event_types(values: list[str]) -> None:
    op.drop_constraint(op.f("ck_events_event_type"), "events", type_="check")
    listed = ", ".join(f"'{v}'" for v in values)
    op.create_check_constraint(op.f("ck_events_event_type"), "events", f"type IN ({listed})")


def upgrade() -> None:
    op.add_column(
        "credentials",
        sa.Column(
            "allowed_hosts",
            postgresql.ARRAY(sa.String(length=255)),
            server_default=sa.text("'{}'::varchar[]"),
            nullable=False,
        ),
    )
    op.create_table(
        "credential_sends",
        sa.Column("credential_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("agent_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("execution_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["credentials.id"],
            name=op.f("fk_credential_sends_credential_id_credentials"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_credential_sends_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "credential_id", "agent_id", "host", name=op.f("pk_credential_sends")
        ),
    )
    _event_types([*EVENTS, "mcp_server_skipped"])


def downgrade() -> None:
    op.execute("DELETE FROM events WHERE type = 'mcp_server_skipped'")
    _event_types(EVENTS)
    op.drop_table("credential_sends")
    op.drop_column("credentials", "allowed_hosts")
