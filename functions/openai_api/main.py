"""Cloud Function `openai_api`: the OpenAI chat-completions API over agents (/v1)."""

from __future__ import annotations

import uuid

from flask import Response
from sqlalchemy.orm import Session
from werkzeug.datastructures import Headers

from core.access.callers import Caller
from core.agents import AGENT_RUNTIME
from core.errors import Invalid, field_error
from core.http import RouteGroup
from core.http.app import function_entry
from core.http.streams import event_stream
from core.runs.backends import Backends
from core.schemas.openai_chat import (
    SESSION_HEADER,
    ChatCompletion,
    ChatCompletionRequest,
    ModelList,
)
from core.services import openai_chat as service

routes = RouteGroup(
    "openai_api",
    path="/v1",
    description="the OpenAI chat-completions API: each agent you may run is a model",
)


@routes.get("/models", response=ModelList, auth="token", keys="execute")
def models(caller: Caller, db: Session) -> ModelList:
    """The agents you may run, as models (your own first): `id` is the agent's id."""
    return service.list_models(db, caller=caller)


@routes.post(
    "/chat/completions",
    body=ChatCompletionRequest,
    response=ChatCompletion,
    auth="token",
    keys="execute",
    responses={
        404: "no agent you may run by that id or name (`model_not_found`), or no such session",
        409: "the session is busy or archived, or belongs to another agent",
        429: "a quota is spent (quota_exceeded, Retry-After)",
        502: "the agent's run ended failed, timed out or cancelled (`run_failed`, "
        "`execution_id`, Location)",
    },
    needs=AGENT_RUNTIME,
    streams="with `stream: true`: chat.completion.chunk events, then `data: [DONE]`",
)
def chat_completions(
    body: ChatCompletionRequest, headers: Headers, caller: Caller, db: Session, backends: Backends
) -> ChatCompletion | Response:
    """A turn of an agent (`model`: its id or name) in the OpenAI chat-completions shape. The
    last message is the new input. Header X-Agents-Session: one of your sessions of that agent
    (the session keeps the conversation; earlier messages are not read); without it, earlier
    messages reach the agent as a transcript. Errors come in OpenAI's shape too."""
    session_id = _session(headers)
    answer = service.complete(
        db, caller=caller, body=body, session_id=session_id, backends=backends
    )
    if isinstance(answer, ChatCompletion):
        return answer
    frames, execution_id = answer
    return event_stream(
        frames, user_id=caller.user_id, headers={"Location": f"/executions/{execution_id}"}
    )


def _session(headers: Headers) -> uuid.UUID | None:
    given = headers.get(SESSION_HEADER)
    if not given:
        return None
    try:
        return uuid.UUID(given)
    except ValueError:
        message = f"{SESSION_HEADER} must be a session id"
        raise Invalid(
            message, details=[field_error(["header", SESSION_HEADER], message, "uuid")]
        ) from None


entry = function_entry(lambda: routes)
