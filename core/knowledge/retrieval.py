"""Finding passages: a query embedded as each knowledge base's embedder wants it, then searched
(core.knowledge.search); and what an agent's `knowledge_search` tool may read, which is the
knowledge bases its definition names that its owner still owns, whoever runs it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Settings
from core.knowledge.embedders import EmbeddingSpec, embedder_for
from core.knowledge.search import Mode, Passage, search
from core.models.agents import Agent
from core.models.knowledge import KnowledgeBase


def spec_of_row(kb: KnowledgeBase) -> EmbeddingSpec:
    return EmbeddingSpec(kb.embedding_provider, kb.embedding_model, kb.dimensions)


def query_knowledge_bases(
    db: Session,
    kbs: Sequence[KnowledgeBase],
    query: str,
    *,
    top_k: int,
    mode: Mode,
    settings: Settings,
) -> list[Passage]:
    """The best `top_k` passages of these knowledge bases. Those embedded alike are searched
    together; several groups are merged by score (the fused scores of hybrid search compare
    across them, as ranks do)."""
    groups: dict[EmbeddingSpec, list[uuid.UUID]] = {}
    for kb in kbs:
        groups.setdefault(spec_of_row(kb), []).append(kb.id)
    found: list[Passage] = []
    for spec, ids in groups.items():
        vector = None
        if mode != "text":
            vector = embedder_for(spec, settings).embed([query], "query")[0]
        found += search(
            db,
            knowledge_base_ids=ids,
            query=query,
            query_vector=vector,
            dimensions=spec.dimensions,
            top_k=top_k,
            mode=mode,
        )
    found.sort(key=lambda p: (-p.score, p.chunk_id))
    return found[:top_k]


def agent_knowledge_search(
    unit_of_work: Callable[[], AbstractContextManager[Session]],
    settings: Settings,
    agent_id: uuid.UUID,
    refs: Sequence[Any],
) -> Callable[[str], list[dict[str, Any]]]:
    """What an agent's `knowledge_search` tool calls: the passages of the knowledge bases its
    definition names (`refs`: knowledge_base_id, top_k) that the agent's owner owns."""
    ids = [ref.knowledge_base_id for ref in refs]
    top_k = max((ref.top_k for ref in refs), default=5)

    def search_for_agent(query: str) -> list[dict[str, Any]]:
        with unit_of_work() as db:
            kbs = list(
                db.scalars(
                    select(KnowledgeBase)
                    .join(Agent, Agent.owner_id == KnowledgeBase.owner_id)
                    .where(Agent.id == agent_id, KnowledgeBase.id.in_(ids))
                )
            )
            passages = query_knowledge_bases(
                db, kbs, query, top_k=top_k, mode="hybrid", settings=settings
            )
        return [p.public() for p in passages]

    return search_for_agent
