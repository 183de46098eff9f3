"""knowledge bases: documents, and their chunks searched by vector (pgvector's HNSW, one
partial index per dimension the service embeds at) and by words (a generated tsvector, GIN).

Where the database cannot have the `vector` extension (the machine's PostgreSQL the tests use),
a chunk's vector is a `real[]` that core.knowledge.search compares exactly: the same tables and
answers, without the index.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 17:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# core.knowledge.embedders.DIMENSIONS at this revision (frozen: a new one needs a migration)
DIMENSIONS = (256, 768, 1536)


def _vector_available(bind: sa.Connection) -> bool:
    if bind.scalar(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")):
        return True
    if not bind.scalar(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")):
        return False
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    except sa.exc.DBAPIError:  # installed but not ours to create (no privilege)
        return False
    return True


def upgrade() -> None:
    bind = op.get_bind()
    vector = _vector_available(bind)
    if not vector:  # say so where an operator reads: knowledge search works, without an index
        import logging

        logging.getLogger("alembic.runtime.migration").warning(
            "0022: the `vector` extension is not available to this database user: knowledge "
            "chunks get real[] vectors searched exactly, without an HNSW index (on Cloud SQL, "
            "run the migration as a user with cloudsqlsuperuser, or CREATE EXTENSION vector)"
        )
    op.execute(
        """
        CREATE TABLE knowledge_bases (
            id uuid DEFAULT gen_random_uuid() NOT NULL,
            owner_id uuid NOT NULL,
            name varchar(100) NOT NULL,
            description text,
            embedding_provider varchar(16) NOT NULL,
            embedding_model varchar(100) NOT NULL,
            dimensions integer NOT NULL,
            created_at timestamptz DEFAULT now() NOT NULL,
            updated_at timestamptz DEFAULT now() NOT NULL,
            CONSTRAINT pk_knowledge_bases PRIMARY KEY (id),
            CONSTRAINT fk_knowledge_bases_owner_id_users FOREIGN KEY (owner_id)
                REFERENCES users (id) ON DELETE CASCADE
        );
        CREATE UNIQUE INDEX uq_knowledge_bases_owner_id_name ON knowledge_bases (owner_id, name);
        CREATE INDEX ix_knowledge_bases_owner_id_created_at
            ON knowledge_bases (owner_id, created_at, id);

        CREATE TABLE knowledge_documents (
            id uuid DEFAULT gen_random_uuid() NOT NULL,
            knowledge_base_id uuid NOT NULL,
            owner_id uuid NOT NULL,
            title varchar(300) NOT NULL,
            source varchar(32) NOT NULL,
            media_type varchar(100) NOT NULL,
            artifact_id uuid,
            content bytea NOT NULL,
            content_sha256 varchar(64) NOT NULL,
            size_bytes bigint NOT NULL,
            status varchar(32) NOT NULL,
            error jsonb,
            chunk_count integer DEFAULT 0 NOT NULL,
            token_count integer DEFAULT 0 NOT NULL,
            attempts integer DEFAULT 0 NOT NULL,
            lease_until timestamptz,
            created_at timestamptz DEFAULT now() NOT NULL,
            updated_at timestamptz DEFAULT now() NOT NULL,
            CONSTRAINT pk_knowledge_documents PRIMARY KEY (id),
            CONSTRAINT fk_knowledge_documents_knowledge_base_id_knowledge_bases
                FOREIGN KEY (knowledge_base_id) REFERENCES knowledge_bases (id) ON DELETE CASCADE,
            CONSTRAINT fk_knowledge_documents_owner_id_users FOREIGN KEY (owner_id)
                REFERENCES users (id) ON DELETE CASCADE,
            CONSTRAINT ck_knowledge_documents_document_source
                CHECK (source IN ('upload', 'artifact', 'text')),
            CONSTRAINT ck_knowledge_documents_document_status
                CHECK (status IN ('queued', 'processing', 'ready', 'failed'))
        );
        CREATE UNIQUE INDEX uq_knowledge_documents_knowledge_base_id_content_sha256
            ON knowledge_documents (knowledge_base_id, content_sha256);
        CREATE INDEX ix_knowledge_documents_knowledge_base_id_created_at
            ON knowledge_documents (knowledge_base_id, created_at, id);
        CREATE INDEX ix_knowledge_documents_owner_id ON knowledge_documents (owner_id);
        CREATE INDEX ix_knowledge_documents_unfinished ON knowledge_documents (updated_at)
            WHERE status IN ('queued', 'processing');
        """
    )
    op.execute(
        f"""
        CREATE TABLE knowledge_chunks (
            id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
            knowledge_base_id uuid NOT NULL,
            document_id uuid NOT NULL,
            position integer NOT NULL,
            text text NOT NULL,
            token_count integer NOT NULL,
            dimensions integer NOT NULL,
            embedding {"vector" if vector else "real[]"} NOT NULL,
            search tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig, text)) STORED,
            CONSTRAINT pk_knowledge_chunks PRIMARY KEY (id),
            CONSTRAINT fk_knowledge_chunks_knowledge_base_id_knowledge_bases
                FOREIGN KEY (knowledge_base_id) REFERENCES knowledge_bases (id) ON DELETE CASCADE,
            CONSTRAINT fk_knowledge_chunks_document_id_knowledge_documents
                FOREIGN KEY (document_id) REFERENCES knowledge_documents (id) ON DELETE CASCADE
        );
        CREATE UNIQUE INDEX uq_knowledge_chunks_document_id_position
            ON knowledge_chunks (document_id, position);
        CREATE INDEX ix_knowledge_chunks_knowledge_base_id ON knowledge_chunks (knowledge_base_id);
        CREATE INDEX ix_knowledge_chunks_search ON knowledge_chunks USING gin (search);
        """
    )
    if vector:
        for n in DIMENSIONS:
            op.execute(
                f"CREATE INDEX ix_knowledge_chunks_embedding_{n} ON knowledge_chunks "
                f"USING hnsw ((embedding::vector({n})) vector_cosine_ops) WHERE dimensions = {n}"
            )


def downgrade() -> None:
    op.execute("DROP TABLE knowledge_chunks")
    op.execute("DROP TABLE knowledge_documents")
    op.execute("DROP TABLE knowledge_bases")
