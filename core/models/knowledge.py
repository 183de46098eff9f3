"""Knowledge bases: a user's documents, split into chunks that are searched by meaning (a
vector per chunk) and by words (a tsvector per chunk), for agents' `knowledge_search` tool."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    REAL,
    BigInteger,
    Computed,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, created_at, str_enum, updated_at, uuid_pk


class DocumentStatus(enum.StrEnum):
    queued = "queued"
    processing = "processing"
    ready = "ready"
    failed = "failed"


class DocumentSource(enum.StrEnum):
    upload = "upload"
    artifact = "artifact"
    text = "text"


class KnowledgeBase(Base):
    """A named set of documents of one owner, embedded with one model at one dimension."""

    __tablename__ = "knowledge_bases"
    __table_args__ = (
        Index("uq_knowledge_bases_owner_id_name", "owner_id", "name", unique=True),
        Index("ix_knowledge_bases_owner_id_created_at", "owner_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    embedding_provider: Mapped[str] = mapped_column(String(16))
    embedding_model: Mapped[str] = mapped_column(String(100))
    dimensions: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class KnowledgeDocument(Base):
    """One document of a knowledge base: its bytes until and after ingestion (a new embedding
    model reads them again), and how its ingestion went."""

    __tablename__ = "knowledge_documents"
    __table_args__ = (
        Index(
            "uq_knowledge_documents_knowledge_base_id_content_sha256",
            "knowledge_base_id",
            "content_sha256",
            unique=True,
        ),
        Index(
            "ix_knowledge_documents_knowledge_base_id_created_at",
            "knowledge_base_id",
            "created_at",
            "id",
        ),
        Index("ix_knowledge_documents_owner_id", "owner_id"),
        # the sweeper's look for ingestions that lost their task or their worker
        Index(
            "ix_knowledge_documents_unfinished",
            "updated_at",
            postgresql_where=text("status IN ('queued', 'processing')"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    knowledge_base_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("knowledge_bases.id", ondelete="CASCADE")
    )
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    source: Mapped[DocumentSource] = mapped_column(str_enum(DocumentSource, "document_source"))
    media_type: Mapped[str] = mapped_column(String(100))
    artifact_id: Mapped[uuid.UUID | None]
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False, deferred=True)
    content_sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[DocumentStatus] = mapped_column(
        str_enum(DocumentStatus, "document_status"), default=DocumentStatus.queued
    )
    error: Mapped[dict[str, Any] | None]
    chunk_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    token_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # ingestion attempts so far, and until when the current one holds the document
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class KnowledgeChunk(Base):
    """A passage of a document with its vector and its words. `embedding` is pgvector's
    `vector` where the database has the extension (Cloud SQL, the embedded pgserver), with an
    HNSW index per dimension; elsewhere `real[]`, searched exactly (core.knowledge.search)."""

    __tablename__ = "knowledge_chunks"
    __table_args__ = (
        Index("uq_knowledge_chunks_document_id_position", "document_id", "position", unique=True),
        Index("ix_knowledge_chunks_knowledge_base_id", "knowledge_base_id"),
        Index("ix_knowledge_chunks_search", "search", postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    knowledge_base_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("knowledge_bases.id", ondelete="CASCADE")
    )
    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("knowledge_documents.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer)
    dimensions: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[list[float]] = mapped_column(ARRAY(REAL))
    search: Mapped[Any] = mapped_column(
        TSVECTOR, Computed("to_tsvector('english'::regconfig, text)", persisted=True)
    )
