"""Memories as their person manages them: what an agent remembers about the caller. Only the
person a memory is about reads, changes or deletes it; an agent's owner never sees another
user's memories (another user's memory is a 404)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.access.agents import Access, agent_for
from core.errors import LimitReached, NotFound
from core.knowledge.memories import MemoryFull, save
from core.models.memories import Memory, MemorySource
from core.models.users import User
from core.pagination import Keyset, Page
from core.schemas.common import PageQuery
from core.schemas.memories import MemoryCreate, MemoryUpdate

MEMORY_ORDER = Keyset((Memory.created_at, Memory.id), descending=True)


def list_memories(
    db: Session, *, user: User, agent_id: uuid.UUID, query: PageQuery
) -> Page[Memory]:
    agent_for(db, user, agent_id, Access.read)
    stmt = select(Memory).where(Memory.user_id == user.id, Memory.agent_id == agent_id)
    return MEMORY_ORDER.fetch(db, stmt, query.cursor, query.limit)


def add_memory(db: Session, *, user: User, agent_id: uuid.UUID, data: MemoryCreate) -> Memory:
    agent_for(db, user, agent_id, Access.read)
    try:
        return save(db, user_id=user.id, agent_id=agent_id, text=data.text, source=MemorySource.api)
    except MemoryFull as exc:
        raise LimitReached(f"{exc}: delete some first", code="memory_quota_exceeded") from None


def own_memory(db: Session, user: User, memory_id: uuid.UUID) -> Memory:
    memory = db.scalar(select(Memory).where(Memory.id == memory_id, Memory.user_id == user.id))
    if memory is None:
        raise NotFound("no such memory", code="memory_not_found")
    return memory


def update_memory(db: Session, *, user: User, memory_id: uuid.UUID, data: MemoryUpdate) -> Memory:
    memory = own_memory(db, user, memory_id)
    memory.text = data.text.strip()
    db.flush()
    db.refresh(memory)
    return memory


def delete_memory(db: Session, *, user: User, memory_id: uuid.UUID) -> None:
    db.delete(own_memory(db, user, memory_id))
    db.flush()
