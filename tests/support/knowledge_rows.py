"""Knowledge-base rows written straight to a database (no API, no queue): what the pgvector
tests and the retrieval and scale benches fill their knowledge bases with."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.knowledge.chunking import split_into_chunks
from core.knowledge.embedders import DEFAULT_DIMENSIONS, Embedder
from core.knowledge.search import store_chunks


def owner(db: Session) -> uuid.UUID:
    name = uuid.uuid4().hex[:12]
    user_id: uuid.UUID = db.scalar(
        sa.text(
            "INSERT INTO users (username, email, password_hash, role) "
            "VALUES (:u, :u || '@example.com', 'x', 'user') RETURNING id"
        ),
        {"u": name},
    )
    return user_id


def knowledge_base(
    db: Session, owner_id: uuid.UUID, dimensions: int = DEFAULT_DIMENSIONS["test"]
) -> uuid.UUID:
    kb_id = uuid.uuid4()
    db.execute(
        sa.text(
            "INSERT INTO knowledge_bases (id, owner_id, name, embedding_provider, "
            "embedding_model, dimensions) VALUES (:id, :o, :n, 'test', 'hashed-ngrams', :d)"
        ),
        {"id": kb_id, "o": owner_id, "n": kb_id.hex, "d": dimensions},
    )
    return kb_id


def document(
    db: Session,
    kb_id: uuid.UUID,
    owner_id: uuid.UUID,
    title: str,
    *,
    content: str = "",
    status: str = "ready",
) -> uuid.UUID:
    doc_id = uuid.uuid4()
    db.execute(
        sa.text(
            "INSERT INTO knowledge_documents (id, knowledge_base_id, owner_id, title, source, "
            "media_type, content, content_sha256, size_bytes, status) "
            "VALUES (:id, :kb, :o, :t, 'text', 'text/plain', :c, :sha, :n, :s)"
        ),
        {
            "id": doc_id,
            "kb": kb_id,
            "o": owner_id,
            "t": title,
            "c": content.encode(),
            "sha": doc_id.hex + doc_id.hex,
            "n": len(content),
            "s": status,
        },
    )
    return doc_id


def filled(
    db: Session,
    kb_id: uuid.UUID,
    owner_id: uuid.UUID,
    documents: Iterable[tuple[str, str]],
    embedder: Embedder,
    *,
    dimensions: int = DEFAULT_DIMENSIONS["test"],
    size: int = 128,
    overlap: int | None = None,
    most: int | None = None,
) -> int:
    """Each (title, text) as a ready document of chunks of `size` tokens (at most `most` per
    document); the chunks stored."""
    stored = 0
    for title, text in documents:
        doc_id = document(db, kb_id, owner_id, title)
        cut = size // 5 if overlap is None else overlap
        chunks = split_into_chunks(text, size=size, overlap=cut)[:most]
        store_chunks(
            db,
            knowledge_base_id=kb_id,
            document_id=doc_id,
            chunks=chunks,
            vectors=embedder.embed([c.text for c in chunks], "document"),
            dimensions=dimensions,
        )
        stored += len(chunks)
    return stored
