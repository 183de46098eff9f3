"""Memories of one person with one agent: saved, searched, and recalled into a run's
instructions at its start, the most relevant first, within a token budget.

Relevance is the test embedder's cosine to the query (words, word pairs, word beginnings) fused
by reciprocal rank with the count of shared word stems; newer memories win ties, and with no
query the newest come first. A person's memories with an agent are few (at most
MAX_PER_AGENT), so they are ranked here, exactly, without an index."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.knowledge.chunking import count_tokens
from core.knowledge.embedders import STOP, WORD, HashingEmbedder, stem
from core.models.memories import Memory, MemorySource

MAX_PER_AGENT = 1000
MAX_TEXT_CHARS = 2000
RRF_K = 60
_EMBEDDER = HashingEmbedder(256)


class MemoryFull(Exception):
    """A person keeps at most MAX_PER_AGENT memories with one agent."""


def _stems(text: str) -> set[str]:
    return {stem(w) for w in WORD.findall(text.lower()) if w not in STOP}


def rank(memories: Sequence[Memory], query: str) -> list[Memory]:
    """Most relevant to `query` first (newest first among equals, and when it has no words)."""
    by_recency = sorted(memories, key=lambda m: (m.updated_at, m.id), reverse=True)
    words = _stems(query)
    if not words:
        return by_recency
    q = _EMBEDDER.embed([query], "query")[0]
    vectors = _EMBEDDER.embed([m.text for m in by_recency], "document")
    cosine = [sum(a * b for a, b in zip(q, v, strict=True)) for v in vectors]
    shared = [len(words & _stems(m.text)) for m in by_recency]
    order_v = sorted(range(len(by_recency)), key=lambda i: -cosine[i])
    order_w = sorted(range(len(by_recency)), key=lambda i: -shared[i])
    score = [0.0] * len(by_recency)
    for position, i in enumerate(order_v):
        if cosine[i] > 0:
            score[i] += 1.0 / (RRF_K + position + 1)
    for position, i in enumerate(order_w):
        if shared[i] > 0:
            score[i] += 1.0 / (RRF_K + position + 1)
    order = sorted(range(len(by_recency)), key=lambda i: (-score[i], i))
    return [by_recency[i] for i in order]


def memories_of(db: Session, user_id: uuid.UUID, agent_id: uuid.UUID) -> list[Memory]:
    return list(
        db.scalars(
            select(Memory)
            .where(Memory.user_id == user_id, Memory.agent_id == agent_id)
            .order_by(Memory.updated_at.desc(), Memory.id.desc())
            .limit(MAX_PER_AGENT)
        )
    )


def recalled(memories: Sequence[Memory], query: str, budget_tokens: int) -> list[Memory]:
    """The most relevant memories that fit in `budget_tokens` together."""
    kept: list[Memory] = []
    used = 0
    for memory in rank(memories, query):
        cost = count_tokens(memory.text) + 2  # the bullet and the line break
        if used + cost > budget_tokens:
            continue
        kept.append(memory)
        used += cost
    return kept


def instructions_of(memories: Sequence[Memory]) -> str | None:
    if not memories:
        return None
    lines = "\n".join(f"- {' '.join(m.text.split())}" for m in memories)
    return (
        "What you remember about the person you are talking to (from earlier conversations; "
        f"they may be out of date):\n{lines}"
    )


def save(
    db: Session,
    *,
    user_id: uuid.UUID,
    agent_id: uuid.UUID,
    text: str,
    source: MemorySource,
    execution_id: uuid.UUID | None = None,
) -> Memory:
    held = db.scalar(
        select(func.count())
        .select_from(Memory)
        .where(Memory.user_id == user_id, Memory.agent_id == agent_id)
    )
    if (held or 0) >= MAX_PER_AGENT:
        raise MemoryFull(f"at most {MAX_PER_AGENT} memories per agent")
    memory = Memory(
        id=uuid.uuid4(),
        user_id=user_id,
        agent_id=agent_id,
        text=text.strip()[:MAX_TEXT_CHARS],
        source=source,
        execution_id=execution_id,
    )
    db.add(memory)
    db.flush()
    return memory


@dataclass
class RunMemory:
    """A run's memory: its caller's memories with its agent (what the memory tools call)."""

    unit_of_work: Callable[[], AbstractContextManager[Session]]
    user_id: uuid.UUID
    agent_id: uuid.UUID
    execution_id: uuid.UUID

    def save(self, text: str) -> dict[str, Any]:
        with self.unit_of_work() as db:
            try:
                memory = save(
                    db,
                    user_id=self.user_id,
                    agent_id=self.agent_id,
                    text=text,
                    source=MemorySource.tool,
                    execution_id=self.execution_id,
                )
            except MemoryFull as exc:
                return {"saved": False, "reason": str(exc)}
            return {"saved": True, "memory_id": str(memory.id)}

    def search(self, query: str, limit: int = 5) -> list[dict[str, Any]]:
        with self.unit_of_work() as db:
            found = rank(memories_of(db, self.user_id, self.agent_id), query)[:limit]
            return [
                {"memory_id": str(m.id), "text": m.text, "updated_at": m.updated_at.isoformat()}
                for m in found
            ]

    def recall(self, query: str, budget_tokens: int) -> str | None:
        with self.unit_of_work() as db:
            return instructions_of(
                recalled(memories_of(db, self.user_id, self.agent_id), query, budget_tokens)
            )
