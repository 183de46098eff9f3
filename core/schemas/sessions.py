"""API schemas of sessions (conversations with one agent)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from core.models.sessions import SessionStatus
from core.schemas.agents import PromptInput, WebhookUrl
from core.schemas.common import (
    PageQuery,
    RequestModel,
    ResponseModel,
    within_free_json_levels,
)

STATE_MAX_BYTES = 64 * 1024


def _bounded_state(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value)) > STATE_MAX_BYTES:
        raise ValueError(f"state is limited to {STATE_MAX_BYTES} bytes of JSON")
    return value


State = Annotated[
    dict[str, Any], AfterValidator(_bounded_state), AfterValidator(within_free_json_levels)
]


class SessionCreate(RequestModel):
    agent_id: uuid.UUID
    title: str = Field(default="", max_length=200)
    state: State = Field(default_factory=dict)


class SessionUpdate(RequestModel):
    title: str | None = Field(default=None, max_length=200)
    state: State | None = None
    status: SessionStatus | None = None


class SessionPublic(ResponseModel):
    id: uuid.UUID
    agent_id: uuid.UUID
    user_id: uuid.UUID
    title: str
    state: dict[str, Any]
    status: SessionStatus
    last_seq: int
    created_at: datetime
    updated_at: datetime


class SessionsQuery(PageQuery):
    agent_id: uuid.UUID | None = None
    status: SessionStatus | None = None
    q: str | None = Field(default=None, max_length=100, description="title contains (any case)")


class MessageRequest(RequestModel):
    NOT_NULL = ("idempotency_key", "webhook_url")

    content: PromptInput = Field(
        description="the user's message: text, a JSON object, or a list of content parts "
        "(text, and artifacts: images, PDFs and text files go to the model as files)"
    )
    mode: Literal["sync", "async"] = "sync"
    idempotency_key: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"
    )
    webhook_url: WebhookUrl | None = None
