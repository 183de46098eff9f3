"""memories: what an agent remembers about the person who talks to it, per (user, agent)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 17:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE memories (
            id uuid DEFAULT gen_random_uuid() NOT NULL,
            user_id uuid NOT NULL,
            agent_id uuid NOT NULL,
            text text NOT NULL,
            source varchar(32) NOT NULL,
            execution_id uuid,
            created_at timestamptz DEFAULT now() NOT NULL,
            updated_at timestamptz DEFAULT now() NOT NULL,
            CONSTRAINT pk_memories PRIMARY KEY (id),
            CONSTRAINT fk_memories_user_id_users FOREIGN KEY (user_id)
                REFERENCES users (id) ON DELETE CASCADE,
            CONSTRAINT fk_memories_agent_id_agents FOREIGN KEY (agent_id)
                REFERENCES agents (id) ON DELETE CASCADE,
            CONSTRAINT ck_memories_memory_source
                CHECK (source IN ('api', 'tool', 'extracted'))
        );
        CREATE INDEX ix_memories_user_id_agent_id_updated_at
            ON memories (user_id, agent_id, updated_at, id);
        CREATE INDEX ix_memories_agent_id ON memories (agent_id);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE memories")
