"""Cloud Function `memories`: one memory of the caller's (read, corrected or forgotten). The
list of what an agent remembers about the caller, and adding to it, are under
/agents/{id}/memories."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from core.http import RouteGroup
from core.http.app import function_entry
from core.models.memories import Memory
from core.models.users import User
from core.schemas.memories import MemoryPublic, MemoryUpdate
from core.services import memories as service

routes = RouteGroup("memories", description="what agents remember about you")


@routes.get("/<uuid:memory_id>", response=MemoryPublic)
def get_memory(memory_id: uuid.UUID, user: User, db: Session) -> Memory:
    """One of your memories."""
    return service.own_memory(db, user, memory_id)


@routes.patch("/<uuid:memory_id>", body=MemoryUpdate, response=MemoryPublic)
def update_memory(memory_id: uuid.UUID, body: MemoryUpdate, user: User, db: Session) -> Memory:
    """Correct one of your memories."""
    return service.update_memory(db, user=user, memory_id=memory_id, data=body)


@routes.delete("/<uuid:memory_id>", status=204)
def delete_memory(memory_id: uuid.UUID, user: User, db: Session) -> None:
    """Forget one of your memories."""
    service.delete_memory(db, user=user, memory_id=memory_id)


entry = function_entry(lambda: routes)
