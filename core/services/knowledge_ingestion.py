"""A document's ingestion, as the worker delivers it (`/tasks/ingest/{id}`): claimed, read,
split into chunks, embedded in batches, and stored with its status in one transaction.

Idempotent per document: the claim is conditional (queued, or processing under a lease that ran
out), and the chunks replace any the document had, in the transaction that marks it ready and
that the claim's attempt fences. A worker killed anywhere leaves the document processing under
its lease: the next delivery (the queue's retry, or the sweeper's) takes it over once the lease
runs out, and no chunk is ever stored twice. A document that failed this many times, or whose
bytes hold no text, ends `failed` with the reason."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update

from core.knowledge.chunking import split_into_chunks
from core.knowledge.embedders import EmbeddingSpec, embedder_for
from core.knowledge.reading import Unreadable, read_text
from core.knowledge.search import store_chunks
from core.models.knowledge import DocumentStatus, KnowledgeBase, KnowledgeDocument
from core.runs.backends import Backends
from core.runs.queueing import enqueue_ingestion
from core.services.delivery import Delivery

log = logging.getLogger(__name__)

LEASE_S = 300
MAX_ATTEMPTS = 5
STALE_QUEUED_S = 60


def deliver_ingestion(document_id: uuid.UUID, backends: Backends) -> Delivery:
    now = backends.clock.now()
    claimed = _claim(document_id, backends, now)
    if isinstance(claimed, Delivery):
        return claimed
    attempt, spec, media_type, content = claimed
    if attempt > MAX_ATTEMPTS:
        _fail(document_id, attempt, backends, "ingestion_failed",
              f"the document could not be ingested in {MAX_ATTEMPTS} attempts")  # fmt: skip
        return Delivery("failed")
    try:
        body = read_text(content, media_type)
        chunks = split_into_chunks(body)
        vectors = embedder_for(spec, backends.settings).embed([c.text for c in chunks], "document")
    except Unreadable as exc:
        _fail(document_id, attempt, backends, exc.code, str(exc))
        return Delivery("failed")
    except Exception as exc:
        # the embedding provider failed (a 429, a 5xx, the network): the queue brings it back
        log.warning("ingestion of document %s failed: %s", document_id, exc)
        _release(document_id, attempt, backends)
        return Delivery("retrying", {"code": "embedding_failed", "message": str(exc)[:300]}, 30)
    with backends.unit_of_work() as db:
        row = db.execute(
            select(KnowledgeDocument.knowledge_base_id, KnowledgeDocument.owner_id)
            .where(
                KnowledgeDocument.id == document_id,
                KnowledgeDocument.attempts == attempt,
                KnowledgeDocument.status == DocumentStatus.processing,
            )
            .with_for_update()
        ).first()
        if row is None:  # deleted, or taken over by a later attempt
            return Delivery("abandoned")
        kb_id, owner_id = row
        dims = db.scalar(select(KnowledgeBase.dimensions).where(KnowledgeBase.id == kb_id))
        if dims != spec.dimensions:  # the embedder changed meanwhile: its own task follows
            return Delivery("abandoned")
        held = db.scalar(
            select(func.coalesce(func.sum(KnowledgeDocument.chunk_count), 0)).where(
                KnowledgeDocument.owner_id == owner_id, KnowledgeDocument.id != document_id
            )
        )
        limit = backends.settings.knowledge_max_chunks
        if int(held or 0) + len(chunks) > limit:
            _set_failed(db, document_id, "chunk_quota_exceeded",
                        f"the document's {len(chunks)} chunks would take your knowledge bases "
                        f"past their {limit}-chunk limit: delete documents first")  # fmt: skip
            return Delivery("failed")
        store_chunks(
            db,
            knowledge_base_id=kb_id,
            document_id=document_id,
            chunks=chunks,
            vectors=vectors,
            dimensions=spec.dimensions,
        )
        db.execute(
            update(KnowledgeDocument)
            .where(KnowledgeDocument.id == document_id)
            .values(
                status=DocumentStatus.ready,
                chunk_count=len(chunks),
                token_count=sum(c.tokens for c in chunks),
                error=None,
                lease_until=None,
                updated_at=func.now(),
            )
        )
    return Delivery("ready")


def _claim(
    document_id: uuid.UUID, backends: Backends, now: datetime
) -> Delivery | tuple[int, EmbeddingSpec, str, bytes]:
    with backends.unit_of_work() as db:
        claimed = db.execute(
            text(
                "UPDATE knowledge_documents d SET status = 'processing', "
                "attempts = d.attempts + 1, lease_until = :until, updated_at = now() "
                "FROM knowledge_bases kb WHERE d.id = :id AND kb.id = d.knowledge_base_id "
                "AND (d.status = 'queued' OR (d.status = 'processing' AND d.lease_until <= :now)) "
                "RETURNING d.attempts, kb.embedding_provider, kb.embedding_model, kb.dimensions, "
                "d.media_type, d.content"
            ),
            {"id": document_id, "now": now, "until": now + timedelta(seconds=LEASE_S)},
        ).first()
        if claimed is not None:
            attempt, provider, model, dims, media_type, content = claimed
            return attempt, EmbeddingSpec(provider, model, dims), media_type, bytes(content)
        held = db.execute(
            select(KnowledgeDocument.status, KnowledgeDocument.lease_until).where(
                KnowledgeDocument.id == document_id
            )
        ).first()
    if held is None or held[0] in (DocumentStatus.ready, DocumentStatus.failed):
        return Delivery("done")
    left = (held[1] - now).total_seconds() if held[1] is not None else LEASE_S
    return Delivery("busy", retry_after_s=max(1, int(left) + 1))


def _release(document_id: uuid.UUID, attempt: int, backends: Backends) -> None:
    with backends.unit_of_work() as db:
        db.execute(
            update(KnowledgeDocument)
            .where(KnowledgeDocument.id == document_id, KnowledgeDocument.attempts == attempt)
            .values(lease_until=backends.clock.now())
        )


def _fail(document_id: uuid.UUID, attempt: int, backends: Backends, code: str, why: str) -> None:
    with backends.unit_of_work() as db:
        mine = db.scalar(
            select(KnowledgeDocument.id)
            .where(KnowledgeDocument.id == document_id, KnowledgeDocument.attempts == attempt)
            .with_for_update()
        )
        if mine is not None:
            _set_failed(db, document_id, code, why)


def _set_failed(db: Any, document_id: uuid.UUID, code: str, why: str) -> None:
    db.execute(
        update(KnowledgeDocument)
        .where(KnowledgeDocument.id == document_id)
        .values(
            status=DocumentStatus.failed,
            error={"code": code, "message": why},
            lease_until=None,
            updated_at=func.now(),
        )
    )


def sweep_ingestions(backends: Backends, *, queued_after_s: float = STALE_QUEUED_S) -> int:
    """Enqueue again the documents whose task was lost (queued for a while) or whose worker
    died (processing past its lease)."""
    now = backends.clock.now()
    with backends.unit_of_work() as db:
        stale = list(
            db.scalars(
                select(KnowledgeDocument.id)
                .where(
                    (
                        (KnowledgeDocument.status == DocumentStatus.queued)
                        & (KnowledgeDocument.updated_at <= now - timedelta(seconds=queued_after_s))
                    )
                    | (
                        (KnowledgeDocument.status == DocumentStatus.processing)
                        & (KnowledgeDocument.lease_until <= now)
                    )
                )
                .order_by(KnowledgeDocument.updated_at)
                .limit(500)
            )
        )
    for document_id in stale:
        enqueue_ingestion(backends, document_id)
    return len(stale)
