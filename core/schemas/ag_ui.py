"""The body of `POST /agents/{id}/ag-ui`: an AG-UI `RunAgentInput` (pydantic-ai's AG-UI
adapter reads the whole of it; this names what the service relies on).

The document states the rest as the ag-ui-protocol package's own models do (the adapter
validates with them), read when the document is made: importing them costs ~0.1-0.3 s, which
a function does not pay to start."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

MAX_MESSAGES = 1000


def _as_ag_ui_states_it(schema: dict[str, Any]) -> None:
    """Our fields as we check them; the messages' items and every other field as AG-UI's
    RunAgentInput has them (refs written out: the document has no place for its $defs)."""
    from ag_ui.core import RunAgentInput

    from core.json_schema import standalone

    theirs = standalone(RunAgentInput.model_json_schema(by_alias=True))
    ours = schema["properties"]
    ours["messages"]["items"] = theirs["properties"]["messages"]["items"]
    for name, field in theirs["properties"].items():
        ours.setdefault(name, field)
    for name in AgUiRunInput.UNREAD:
        ours[name][UNREAD_MARK] = True


# what the document says of a field the service never reads nor stores: any JSON as AG-UI has
# it (a NUL included), none of the service's own rules for what it keeps
UNREAD_MARK = "x-unread"


class AgUiRunInput(BaseModel):
    model_config = ConfigDict(
        extra="allow", populate_by_name=True, json_schema_extra=_as_ag_ui_states_it
    )

    # AG-UI's, passed on to pydantic-ai's adapter as they are; the client's tools are not offered
    UNREAD: ClassVar[tuple[str, ...]] = ("state", "tools", "context", "forwardedProps", "resume")

    thread_id: uuid.UUID = Field(
        alias="threadId",
        description="the conversation: one of your sessions of this agent, or a new id (a "
        "session is made with it)",
    )
    run_id: str = Field(alias="runId", min_length=1, max_length=190)
    messages: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_MESSAGES,
        description="AG-UI messages; the last one is this turn's input, and must be the user's "
        "with text (else the stream is RUN_STARTED then RUN_ERROR, and nothing runs); the "
        "session keeps the history",
    )
