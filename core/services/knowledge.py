"""Knowledge bases as their owner manages them: create, rename, change the embedder (every
document embedded again through the queue), delete with everything in them; add documents
(an upload, an artifact, or text), list, inspect and delete them; query them.

A knowledge base is its owner's only: another user's is a 404 on every route. Agents search the
knowledge bases their definitions name through their owner's right (core.knowledge.retrieval)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.config import Settings
from core.errors import (
    Conflict,
    Invalid,
    LimitReached,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from core.knowledge.embedders import DEFAULT_DIMENSIONS, DEFAULT_MODELS, EmbeddingSpec
from core.knowledge.reading import READABLE, media_type_of
from core.knowledge.retrieval import query_knowledge_bases
from core.knowledge.search import Passage
from core.models.knowledge import (
    DocumentSource,
    DocumentStatus,
    KnowledgeBase,
    KnowledgeDocument,
)
from core.models.sessions import Artifact
from core.models.users import User
from core.pagination import Keyset, Page
from core.runs.backends import Backends
from core.runs.queueing import enqueue_ingestion
from core.schemas.common import PageQuery
from core.schemas.knowledge import (
    DocumentsQuery,
    DocumentText,
    KnowledgeBaseCreate,
    KnowledgeBaseUpdate,
    KnowledgeQuery,
    TestEmbedding,
    VertexEmbedding,
)

KB_ORDER = Keyset((KnowledgeBase.created_at, KnowledgeBase.id), descending=True)
DOCUMENT_ORDER = Keyset((KnowledgeDocument.created_at, KnowledgeDocument.id), descending=True)
# multipart framing around an uploaded document
MULTIPART_OVERHEAD_BYTES = 64 * 1024


@dataclass
class KnowledgeBaseView:
    id: uuid.UUID
    owner_id: uuid.UUID
    name: str
    description: str | None
    embedding: dict[str, Any]
    documents: int
    chunks: int
    created_at: datetime
    updated_at: datetime


@dataclass
class AddedDocument:
    document: KnowledgeDocument
    created: bool


def spec_of(choice: TestEmbedding | VertexEmbedding) -> EmbeddingSpec:
    return EmbeddingSpec(
        provider=choice.provider,
        model=choice.model or DEFAULT_MODELS[choice.provider],
        dimensions=choice.dimensions or DEFAULT_DIMENSIONS[choice.provider],
    )


def upload_body_limit() -> int:
    from core.config import get_settings

    return get_settings().knowledge_document_max_bytes + MULTIPART_OVERHEAD_BYTES


# -- knowledge bases ---------------------------------------------------------------------------


def create_knowledge_base(
    db: Session, *, user: User, data: KnowledgeBaseCreate
) -> KnowledgeBaseView:
    spec = spec_of(data.embedding)
    row = db.scalar(
        insert(KnowledgeBase)
        .values(
            id=uuid.uuid4(),
            owner_id=user.id,
            name=data.name,
            description=data.description,
            embedding_provider=spec.provider,
            embedding_model=spec.model,
            dimensions=spec.dimensions,
        )
        .on_conflict_do_nothing(index_elements=[KnowledgeBase.owner_id, KnowledgeBase.name])
        .returning(KnowledgeBase)
    )
    if row is None:
        raise _name_taken(data.name)
    return _views(db, [row])[0]


def list_knowledge_bases(db: Session, *, user: User, query: PageQuery) -> Page[KnowledgeBaseView]:
    stmt = select(KnowledgeBase).where(KnowledgeBase.owner_id == user.id)
    page = KB_ORDER.fetch(db, stmt, query.cursor, query.limit)
    return Page(_views(db, page.items), page.next_cursor)


def get_knowledge_base(db: Session, *, user: User, kb_id: uuid.UUID) -> KnowledgeBaseView:
    return _views(db, [own_knowledge_base(db, user.id, kb_id)])[0]


def update_knowledge_base(
    db: Session, *, user: User, kb_id: uuid.UUID, data: KnowledgeBaseUpdate, backends: Backends
) -> KnowledgeBaseView:
    kb = own_knowledge_base(db, user.id, kb_id, for_update=True)
    if data.name is not None and data.name != kb.name:
        taken = db.scalar(
            select(KnowledgeBase.id).where(
                KnowledgeBase.owner_id == user.id,
                KnowledgeBase.name == data.name,
                KnowledgeBase.id != kb.id,
            )
        )
        if taken is not None:
            raise _name_taken(data.name)
        kb.name = data.name
    if "description" in data.model_fields_set:
        kb.description = data.description
    again: list[uuid.UUID] = []
    if data.embedding is not None:
        spec = spec_of(data.embedding)
        if (spec.provider, spec.model, spec.dimensions) != (
            kb.embedding_provider,
            kb.embedding_model,
            kb.dimensions,
        ):
            kb.embedding_provider, kb.embedding_model = spec.provider, spec.model
            kb.dimensions = spec.dimensions
            again = list(
                db.scalars(
                    update(KnowledgeDocument)
                    .where(KnowledgeDocument.knowledge_base_id == kb.id)
                    .values(
                        status=DocumentStatus.queued,
                        attempts=0,
                        error=None,
                        lease_until=None,
                        updated_at=func.now(),
                    )
                    .returning(KnowledgeDocument.id)
                )
            )
    kb.updated_at = func.now()
    db.flush()
    db.refresh(kb)
    view = _views(db, [kb])[0]
    if again:
        db.commit()  # the worker must find them queued
        for document_id in again:
            enqueue_ingestion(backends, document_id)
    return view


def delete_knowledge_base(db: Session, *, user: User, kb_id: uuid.UUID) -> None:
    """The knowledge base, its documents and their chunks (the foreign keys cascade)."""
    deleted = db.execute(
        delete(KnowledgeBase)
        .where(KnowledgeBase.id == kb_id, KnowledgeBase.owner_id == user.id)
        .returning(KnowledgeBase.id)
    ).first()
    if deleted is None:
        raise _kb_not_found()


def own_knowledge_base(
    db: Session, user_id: uuid.UUID, kb_id: uuid.UUID, *, for_update: bool = False
) -> KnowledgeBase:
    stmt = select(KnowledgeBase).where(KnowledgeBase.id == kb_id, KnowledgeBase.owner_id == user_id)
    kb = db.scalar(stmt.with_for_update() if for_update else stmt)
    if kb is None:
        raise _kb_not_found()
    return kb


def _views(db: Session, rows: list[KnowledgeBase]) -> list[KnowledgeBaseView]:
    counts: dict[uuid.UUID, tuple[int, int]] = {}
    if rows:
        for kb_id, documents, chunks in db.execute(
            select(
                KnowledgeDocument.knowledge_base_id,
                func.count(),
                func.coalesce(func.sum(KnowledgeDocument.chunk_count), 0),
            )
            .where(KnowledgeDocument.knowledge_base_id.in_([row.id for row in rows]))
            .group_by(KnowledgeDocument.knowledge_base_id)
        ):
            counts[kb_id] = (int(documents), int(chunks))
    return [
        KnowledgeBaseView(
            id=row.id,
            owner_id=row.owner_id,
            name=row.name,
            description=row.description,
            embedding={
                "provider": row.embedding_provider,
                "model": row.embedding_model,
                "dimensions": row.dimensions,
            },
            documents=counts.get(row.id, (0, 0))[0],
            chunks=counts.get(row.id, (0, 0))[1],
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
        for row in rows
    ]


def _name_taken(name: str) -> Conflict:
    return Conflict(
        f"you already have a knowledge base named {name!r}", code="knowledge_base_exists"
    )


def _kb_not_found() -> NotFound:
    return NotFound("no such knowledge base", code="knowledge_base_not_found")


# -- documents ---------------------------------------------------------------------------------


def add_text_document(
    db: Session, *, user: User, kb_id: uuid.UUID, data: DocumentText, backends: Backends
) -> AddedDocument:
    """A document from text, or from one of the caller's artifacts."""
    kb = own_knowledge_base(db, user.id, kb_id)
    settings = backends.settings
    if data.text is not None:
        assert data.title is not None
        content = data.text.encode()
        if len(content) > settings.knowledge_document_max_bytes:
            raise _too_large(settings.knowledge_document_max_bytes)
        return _add(
            db, backends, kb, user, data.title, DocumentSource.text, "text/markdown", content
        )
    artifact = db.scalar(
        select(Artifact).where(Artifact.id == data.artifact_id, Artifact.user_id == user.id)
    )
    if artifact is None:
        raise NotFound("no such artifact", code="artifact_not_found")
    limit = settings.knowledge_document_max_bytes
    if artifact.size_bytes > limit:
        raise _too_large(limit)
    from core.artifacts import storage_errors

    with storage_errors():
        content, _ = backends.artifacts.read(artifact.storage_key, max_bytes=limit + 1)
    media_type = media_type_of(artifact.name, artifact.content_type, content[:512])
    if media_type is None:
        raise _unreadable_type(artifact.content_type)
    return _add(
        db,
        backends,
        kb,
        user,
        data.title or artifact.name,
        DocumentSource.artifact,
        media_type,
        content,
        artifact_id=artifact.id,
    )


def add_uploaded_document(
    db: Session,
    *,
    user: User,
    kb_id: uuid.UUID,
    title: str | None,
    filename: str,
    content_type: str | None,
    stream: IO[bytes],
    backends: Backends,
) -> AddedDocument:
    kb = own_knowledge_base(db, user.id, kb_id)
    limit = backends.settings.knowledge_document_max_bytes
    content = stream.read(limit + 1)
    if len(content) > limit:
        raise _too_large(limit)
    media_type = media_type_of(filename, content_type, content[:512])
    if media_type is None:
        raise _unreadable_type(content_type)
    name = (filename.replace("\\", "/").rsplit("/", 1)[-1] or "document")[:300]
    return _add(db, backends, kb, user, title or name, DocumentSource.upload, media_type, content)


def _add(
    db: Session,
    backends: Backends,
    kb: KnowledgeBase,
    user: User,
    title: str,
    source: DocumentSource,
    media_type: str,
    content: bytes,
    *,
    artifact_id: uuid.UUID | None = None,
) -> AddedDocument:
    settings = backends.settings
    if not content:
        raise Invalid("the document is empty", code="document_empty")
    digest = hashlib.sha256(content).hexdigest()
    # one user's uploads are counted one at a time: two at once cannot both take the last room
    db.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('knowledge:' || :user, 0))"),
        {"user": str(user.id)},
    )
    existing = db.scalar(
        select(KnowledgeDocument).where(
            KnowledgeDocument.knowledge_base_id == kb.id,
            KnowledgeDocument.content_sha256 == digest,
        )
    )
    if existing is not None:
        return AddedDocument(existing, created=False)
    _check_room(db, user.id, len(content), settings)
    document = KnowledgeDocument(
        id=uuid.uuid4(),
        knowledge_base_id=kb.id,
        owner_id=user.id,
        title=title,
        source=source,
        media_type=media_type,
        artifact_id=artifact_id,
        content=content,
        content_sha256=digest,
        size_bytes=len(content),
        status=DocumentStatus.queued,
        chunk_count=0,
        token_count=0,
        attempts=0,
    )
    db.add(document)
    db.flush()
    db.refresh(document)
    db.commit()  # the worker must find it
    enqueue_ingestion(backends, document.id)
    return AddedDocument(document, created=True)


def _check_room(db: Session, user_id: uuid.UUID, size: int, settings: Settings) -> None:
    documents, stored = db.execute(
        select(func.count(), func.coalesce(func.sum(KnowledgeDocument.size_bytes), 0)).where(
            KnowledgeDocument.owner_id == user_id
        )
    ).one()
    if documents + 1 > settings.knowledge_max_documents:
        raise LimitReached(
            f"you have {documents} documents, the most your knowledge bases may hold "
            f"({settings.knowledge_max_documents}): delete some first",
            code="knowledge_quota_exceeded",
        )
    if stored + size > settings.knowledge_max_bytes:
        raise LimitReached(
            f"your documents would take {stored + size} bytes, over your "
            f"{settings.knowledge_max_bytes}-byte limit: delete some first",
            code="knowledge_quota_exceeded",
        )


def list_documents(
    db: Session, *, user: User, kb_id: uuid.UUID, query: DocumentsQuery
) -> Page[KnowledgeDocument]:
    own_knowledge_base(db, user.id, kb_id)
    stmt = select(KnowledgeDocument).where(KnowledgeDocument.knowledge_base_id == kb_id)
    if query.status is not None:
        stmt = stmt.where(KnowledgeDocument.status == query.status)
    return DOCUMENT_ORDER.fetch(db, stmt, query.cursor, query.limit)


def get_document(
    db: Session, *, user: User, kb_id: uuid.UUID, document_id: uuid.UUID
) -> KnowledgeDocument:
    document = db.scalar(
        select(KnowledgeDocument)
        .join(KnowledgeBase, KnowledgeBase.id == KnowledgeDocument.knowledge_base_id)
        .where(
            KnowledgeDocument.id == document_id,
            KnowledgeDocument.knowledge_base_id == kb_id,
            KnowledgeBase.owner_id == user.id,
        )
    )
    if document is None:
        raise NotFound("no such document", code="document_not_found")
    return document


def delete_document(db: Session, *, user: User, kb_id: uuid.UUID, document_id: uuid.UUID) -> None:
    """The document and its chunks (the foreign key cascades)."""
    document = get_document(db, user=user, kb_id=kb_id, document_id=document_id)
    db.delete(document)
    db.flush()


# -- queries -----------------------------------------------------------------------------------


def query_knowledge_base(
    db: Session, *, user: User, kb_id: uuid.UUID, data: KnowledgeQuery, settings: Settings
) -> list[Passage]:
    kb = own_knowledge_base(db, user.id, kb_id)
    return query_knowledge_bases(
        db, [kb], data.query, top_k=data.top_k, mode=data.mode, settings=settings
    )


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the document is larger than the {limit}-byte limit of a knowledge-base document",
        code="document_too_large",
    )


def _unreadable_type(declared: str | None) -> UnsupportedMediaType:
    kinds = ", ".join(sorted(READABLE))
    return UnsupportedMediaType(
        f"a document must be text, Markdown, HTML or PDF ({kinds}); got "
        f"{declared or 'an unknown type'}",
        code="document_type_unsupported",
    )
