"""API schemas of memories: what an agent remembers about the person talking to it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from core.schemas.common import RequestModel, ResponseModel

MemoryText = Field(
    min_length=1,
    max_length=2000,
    description="one durable fact, as the agent will read it",
    json_schema_extra={"example": "Prefers answers in French."},
)


class MemoryCreate(RequestModel):
    text: str = MemoryText


class MemoryUpdate(RequestModel):
    text: str = MemoryText


class MemoryPublic(ResponseModel):
    id: uuid.UUID
    agent_id: uuid.UUID
    text: str
    source: Literal["api", "tool", "extracted"] = Field(
        description="api: written by you; tool: saved by the agent (memory_save); extracted: "
        "proposed by the agent's model after a turn"
    )
    execution_id: uuid.UUID | None = Field(description="the run it came from, if any")
    created_at: datetime
    updated_at: datetime
