"""evals: an agent's eval sets (each save kept in eval_set_versions), eval runs and their cases,
and the eval a case's execution belongs to (agent_executions.eval_id)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = postgresql.UUID(as_uuid=True)
JSONB = postgresql.JSONB(astext_type=sa.Text())
NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "eval_sets",
        sa.Column("id", UUID, server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("agent_id", UUID, nullable=False),
        sa.Column("owner_id", UUID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("cases", JSONB, nullable=False),
        sa.Column("evaluators", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_eval_sets_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_eval_sets_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_sets")),
    )
    op.create_index(
        "ix_eval_sets_agent_id_created_at", "eval_sets", ["agent_id", "created_at", "id"]
    )
    op.create_table(
        "eval_set_versions",
        sa.Column("eval_set_id", UUID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("cases", JSONB, nullable=False),
        sa.Column("evaluators", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["eval_set_id"],
            ["eval_sets.id"],
            name=op.f("fk_eval_set_versions_eval_set_id_eval_sets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("eval_set_id", "version", name=op.f("pk_eval_set_versions")),
    )
    op.create_table(
        "evals",
        sa.Column("id", UUID, server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("agent_id", UUID, nullable=False),
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("eval_set_id", UUID, nullable=False),
        sa.Column("eval_set_version", sa.Integer(), nullable=False),
        sa.Column("agent_version", sa.String(length=32), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "succeeded",
                "failed",
                "cancelled",
                name="eval_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("pass_rate", sa.Float(), nullable=True),
        sa.Column("cost", sa.Numeric(14, 6), nullable=True),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("latency_p50_ms", sa.Float(), nullable=True),
        sa.Column("latency_p95_ms", sa.Float(), nullable=True),
        sa.Column("error", JSONB, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_evals_agent_id_agents"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_evals_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["eval_set_id"],
            ["eval_sets.id"],
            name=op.f("fk_evals_eval_set_id_eval_sets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evals")),
    )
    op.create_index("ix_evals_agent_id_created_at", "evals", ["agent_id", "created_at", "id"])
    op.create_index("ix_evals_eval_set_id_created_at", "evals", ["eval_set_id", "created_at"])
    op.create_index("ix_evals_status_updated_at", "evals", ["status", "updated_at"])
    op.create_table(
        "eval_cases",
        sa.Column("eval_id", UUID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("repeat_index", sa.Integer(), nullable=False),
        sa.Column("execution_id", UUID, nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("scores", JSONB, nullable=True),
        sa.Column("reasons", JSONB, nullable=True),
        sa.ForeignKeyConstraint(
            ["eval_id"], ["evals.id"], name=op.f("fk_eval_cases_eval_id_evals"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["agent_executions.id"],
            name=op.f("fk_eval_cases_execution_id_agent_executions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("eval_id", "position", name=op.f("pk_eval_cases")),
    )
    op.create_index("uq_eval_cases_execution_id", "eval_cases", ["execution_id"], unique=True)
    op.add_column("agent_executions", sa.Column("eval_id", UUID, nullable=True))
    op.create_index(
        "ix_agent_executions_eval_id",
        "agent_executions",
        ["eval_id"],
        postgresql_where=sa.text("eval_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_agent_executions_eval_id", table_name="agent_executions")
    op.drop_column("agent_executions", "eval_id")
    op.drop_table("eval_cases")
    op.drop_table("evals")
    op.drop_table("eval_set_versions")
    op.drop_table("eval_sets")
