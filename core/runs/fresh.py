"""What the creator of a brand-new execution already holds, so running it right away needs no
read of its own."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.agents.definition import AgentDefinition
from core.models.executions import ExecutionMode
from core.runs.events import EventLog

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage


@dataclass
class FreshRun:
    """What the creator of a brand-new execution already holds, so running it right away (sync
    mode) needs no read of its own: one transaction to start, one to finish."""

    definition: AgentDefinition
    # (agent id, version): which agent version runs
    agent_version: tuple[uuid.UUID, str]
    # the conversation so far (core.runs.session_history), for a turn in a session
    session_history: list[ModelMessage]
    raw_input: Any
    started_at: datetime
    user_id: uuid.UUID
    mode: ExecutionMode
    session_id: uuid.UUID | None
    webhook_url: str | None
    events: EventLog
