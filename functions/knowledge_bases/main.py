"""Cloud Function `knowledge_bases` (served at /knowledge-bases): a user's knowledge bases,
their documents (ingested through the queue) and queries."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from core.http import Reply, RouteGroup
from core.http.app import function_entry
from core.http.routes import Upload
from core.models.knowledge import KnowledgeDocument
from core.models.users import User
from core.pagination import Page
from core.runs.backends import Backends
from core.schemas.common import PageOf, PageQuery
from core.schemas.knowledge import (
    DocumentPublic,
    DocumentsQuery,
    DocumentText,
    DocumentUploadForm,
    KnowledgeAnswer,
    KnowledgeBaseCreate,
    KnowledgeBasePublic,
    KnowledgeBaseUpdate,
    KnowledgeQuery,
)
from core.services import knowledge as service
from core.services.knowledge import KnowledgeBaseView

routes = RouteGroup(
    "knowledge_bases",
    path="/knowledge-bases",
    description="documents agents search (hybrid retrieval)",
)


@routes.post(
    "",
    body=KnowledgeBaseCreate,
    response=KnowledgeBasePublic,
    status=201,
    responses={409: "a knowledge base of that name is yours"},
)
def create_knowledge_base(body: KnowledgeBaseCreate, user: User, db: Session) -> KnowledgeBaseView:
    """A new, empty knowledge base, with the embedder its chunks are embedded with."""
    return service.create_knowledge_base(db, user=user, data=body)


@routes.get("", query=PageQuery, response=PageOf[KnowledgeBasePublic])
def list_knowledge_bases(query: PageQuery, user: User, db: Session) -> Page[KnowledgeBaseView]:
    """Your knowledge bases, newest first, with their counts of documents and chunks."""
    return service.list_knowledge_bases(db, user=user, query=query)


@routes.get("/<uuid:kb_id>", response=KnowledgeBasePublic)
def get_knowledge_base(kb_id: uuid.UUID, user: User, db: Session) -> KnowledgeBaseView:
    """One of your knowledge bases."""
    return service.get_knowledge_base(db, user=user, kb_id=kb_id)


@routes.patch(
    "/<uuid:kb_id>",
    body=KnowledgeBaseUpdate,
    response=KnowledgeBasePublic,
    responses={409: "a knowledge base of that name is yours"},
)
def update_knowledge_base(
    kb_id: uuid.UUID, body: KnowledgeBaseUpdate, user: User, db: Session, backends: Backends
) -> KnowledgeBaseView:
    """Rename it, describe it, or change its embedder (every document is embedded again)."""
    return service.update_knowledge_base(db, user=user, kb_id=kb_id, data=body, backends=backends)


@routes.delete("/<uuid:kb_id>", status=204)
def delete_knowledge_base(kb_id: uuid.UUID, user: User, db: Session) -> None:
    """Delete it with its documents and chunks."""
    service.delete_knowledge_base(db, user=user, kb_id=kb_id)


@routes.post(
    "/<uuid:kb_id>/documents",
    body=DocumentText,
    form=DocumentUploadForm,
    upload="file",
    max_body_bytes=service.upload_body_limit,
    response=DocumentPublic,
    status=202,
    responses={
        200: "the same content is in this knowledge base already: that document",
        413: "larger than KNOWLEDGE_DOCUMENT_MAX_BYTES (`document_too_large`)",
        415: "not text, Markdown, HTML or PDF (`document_type_unsupported`)",
        429: "your knowledge bases hold as many documents or bytes as you may store "
        "(`knowledge_quota_exceeded`)",
    },
)
def add_document(
    kb_id: uuid.UUID,
    body: DocumentText | None,
    form: DocumentUploadForm | None,
    upload: Upload | None,
    user: User,
    db: Session,
    backends: Backends,
) -> Reply:
    """Add a document: a file (multipart `file`, `title?`), or JSON {title, text} or
    {artifact_id, title?}. It is queued for ingestion (202); its status goes queued,
    processing, then ready or failed (with the reason)."""
    if upload is not None:
        added = service.add_uploaded_document(
            db,
            user=user,
            kb_id=kb_id,
            title=form.title if form is not None else None,
            filename=upload.filename,
            content_type=upload.content_type,
            stream=upload.stream,
            backends=backends,
        )
    else:
        assert body is not None
        added = service.add_text_document(db, user=user, kb_id=kb_id, data=body, backends=backends)
    return Reply(added.document, 202 if added.created else 200)


@routes.get("/<uuid:kb_id>/documents", query=DocumentsQuery, response=PageOf[DocumentPublic])
def list_documents(
    kb_id: uuid.UUID, query: DocumentsQuery, user: User, db: Session
) -> Page[KnowledgeDocument]:
    """The knowledge base's documents, newest first (filter: status)."""
    return service.list_documents(db, user=user, kb_id=kb_id, query=query)


@routes.get("/<uuid:kb_id>/documents/<uuid:document_id>", response=DocumentPublic)
def get_document(
    kb_id: uuid.UUID, document_id: uuid.UUID, user: User, db: Session
) -> KnowledgeDocument:
    """One document: its status, the reason it failed, its counts of chunks and tokens."""
    return service.get_document(db, user=user, kb_id=kb_id, document_id=document_id)


@routes.delete("/<uuid:kb_id>/documents/<uuid:document_id>", status=204)
def delete_document(kb_id: uuid.UUID, document_id: uuid.UUID, user: User, db: Session) -> None:
    """Delete the document and its chunks."""
    service.delete_document(db, user=user, kb_id=kb_id, document_id=document_id)


@routes.post("/<uuid:kb_id>/query", body=KnowledgeQuery, response=KnowledgeAnswer, keys="read")
def query_knowledge_base(
    kb_id: uuid.UUID, body: KnowledgeQuery, user: User, db: Session, backends: Backends
) -> dict[str, Any]:
    """The passages that best answer the query: hybrid (vector and full-text ranks fused),
    vector or text."""
    passages = service.query_knowledge_base(
        db, user=user, kb_id=kb_id, data=body, settings=backends.settings
    )
    return {"passages": [p.public() for p in passages]}


entry = function_entry(lambda: routes)
