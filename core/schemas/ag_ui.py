"""The body of `POST /agents/{id}/ag-ui`: an AG-UI `RunAgentInput` (pydantic-ai's AG-UI
adapter reads the whole of it; this names what the service relies on)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_MESSAGES = 1000


class AgUiRunInput(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    thread_id: uuid.UUID = Field(
        alias="threadId",
        description="the conversation: one of your sessions of this agent, or a new id (a "
        "session is made with it)",
    )
    run_id: str = Field(alias="runId", min_length=1, max_length=190)
    messages: list[dict[str, Any]] = Field(
        max_length=MAX_MESSAGES,
        description="AG-UI messages; the last user message is this turn's input (the session "
        "keeps the history)",
    )
