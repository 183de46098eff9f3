"""The OpenAI chat-completions API over agents: `model` names an agent the caller may run, the
last user message is the turn's input, and the run is an ordinary execution (core.runs.starting:
access, quotas, rate limits, usage, the event log), answered as a chat.completion or streamed as
chat.completion.chunk events ending with [DONE].

A session (header X-Agents-Session) keeps the conversation: earlier messages are not read.
Without one, the run stands alone and the earlier messages (the client's system prompt among
them) reach the agent as a transcript before the new message: an OpenAI client sends the whole
conversation each time, and the agent's own instructions stay first."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from core.access.agents import executable_agents_clause, runnable_agents
from core.access.callers import account_of
from core.errors import Invalid, NotFound, RunFailed, field_error
from core.models.agents import Agent
from core.models.executions import AgentExecution, ExecutionStatus
from core.models.users import User
from core.runs.backends import Backends
from core.runs.live import LiveRun
from core.runs.starting import start_run
from core.schemas.agents import ExecuteRequest
from core.schemas.openai_chat import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    CompletionUsage,
    ModelEntry,
    ModelList,
)

if TYPE_CHECKING:
    from core.access.callers import Caller

MODELS_LISTED = 200
ENDED_BADLY = (ExecutionStatus.failed, ExecutionStatus.timed_out, ExecutionStatus.cancelled)


def list_models(db: Session, *, caller: Caller) -> ModelList:
    """The agents the caller may run, their own first."""
    user = account_of(db, caller)
    rows = runnable_agents(db, user.id, limit=MODELS_LISTED)
    return ModelList(
        data=[
            ModelEntry(
                id=str(agent.id),
                created=int(agent.created_at.timestamp()),
                owned_by=username,
                name=agent.name,
                display_name=agent.display_name,
            )
            for agent, username in rows
        ]
    )


def agent_named(db: Session, user: User, model: str) -> uuid.UUID:
    """The agent `model` names: an id, or the name of one the caller may run (their own
    first). An agent they may not run is not found, like one that does not exist."""
    try:
        return uuid.UUID(model)  # starting the run checks the access
    except ValueError:
        pass
    agent_id = db.scalar(
        select(Agent.id)
        .where(executable_agents_clause(user.id), Agent.name == model)
        .order_by(case((Agent.owner_id == user.id, 0), else_=1), Agent.created_at, Agent.id)
        .limit(1)
    )
    if agent_id is None:
        raise NotFound(
            f"no agent you may run is called {model!r}: GET /v1/models lists them",
            code="model_not_found",
        )
    return agent_id


def _text(message: ChatMessage) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return "".join(part.text for part in message.content)


def turn_input(body: ChatCompletionRequest, *, in_session: bool) -> str:
    """The run's input: the last message, the user's (a conversation ending otherwise has no
    new turn); without a session, the earlier messages as a transcript before it."""
    *earlier, last = body.messages
    said = _text(last)
    if last.role != "user" or not said.strip():
        where: list[str | int] = ["body", "messages", len(body.messages) - 1]
        raise Invalid(
            "the last message must be the user's, with text: it is the new turn",
            details=[field_error(where, "not a user message with text", "no_new_turn")],
        )
    lines = [f"{m.role}: {_text(m)}" for m in earlier if _text(m).strip()]
    if in_session or not lines:
        return said
    return "Earlier in this conversation:\n" + "\n".join(lines) + "\n\nNow:\n" + said


def complete(
    db: Session,
    *,
    caller: Caller,
    body: ChatCompletionRequest,
    session_id: uuid.UUID | None,
    backends: Backends,
) -> ChatCompletion | tuple[AsyncIterator[str], uuid.UUID]:
    """The completion (a sync run), or for `stream` its chunks and its execution's id."""
    user = account_of(db, caller)
    agent_id = agent_named(db, user, body.model)
    said = turn_input(body, in_session=session_id is not None)
    data = ExecuteRequest(input=said, **({"session_id": session_id} if session_id else {}))
    created = int(time.time())
    if body.stream:
        live = LiveRun()
        execution = start_run(
            db, caller=caller, agent_id=agent_id, data=data, backends=backends, live=live
        )
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        return _chunks(live, execution, body.model, created, include_usage), execution.id
    execution = start_run(db, caller=caller, agent_id=agent_id, data=data, backends=backends)
    return ChatCompletion(
        id=f"chatcmpl-{execution.id}",
        created=created,
        model=body.model,
        choices=[Choice(message=AssistantMessage(content=_answer(_ended(execution))))],
        usage=_usage(execution.input_tokens, execution.output_tokens),
    )


def _ended(execution: AgentExecution | dict[str, Any]) -> dict[str, Any]:
    """How a run ended, as its JSON says it (status, output, error, pending approvals)."""
    if isinstance(execution, dict):
        return execution
    return {
        "id": str(execution.id),
        "status": ExecutionStatus(execution.status).value,
        "output": execution.output,
        "error": execution.error,
        "pending_approvals": execution.pending_approvals or [],
    }


def _answer(ended: dict[str, Any]) -> str:
    status = ExecutionStatus(ended["status"])
    if status in ENDED_BADLY:
        message = (ended.get("error") or {}).get("message") or status.value
        raise RunFailed(
            f"the agent's run ended {status.value}: {message}",
            location=f"/executions/{ended['id']}",
            extra={"execution_id": ended["id"]},
        )
    if status == ExecutionStatus.waiting_approval:
        calls = ", ".join(call["tool_name"] for call in ended.get("pending_approvals") or [])
        return (
            f"The run waits for a person to approve or deny: {calls}. Decide at "
            f"POST /executions/{ended['id']}/approvals (or in the console), then ask again."
        )
    output = ended.get("output")
    if output is None:
        return ""
    return output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)


def _usage(prompt: int | None, completion: int | None) -> CompletionUsage:
    p, c = int(prompt or 0), int(completion or 0)
    return CompletionUsage(prompt_tokens=p, completion_tokens=c, total_tokens=p + c)


async def _chunks(
    live: LiveRun, execution: AgentExecution, model: str, created: int, include_usage: bool
) -> AsyncIterator[str]:
    """chat.completion.chunk events: the role, the text as the model writes it, the end; usage
    last when asked for; then [DONE]. A run that ends badly sends OpenAI's error object."""
    chunk_id = f"chatcmpl-{execution.id}"

    def frame(delta: dict[str, Any], finish: str | None = None, **more: Any) -> str:
        chunk = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **more,
        }
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    yield frame({"role": "assistant", "content": ""})
    ended: dict[str, Any] | None = None
    streamed = False
    if live.launched:
        async for item in live.items():
            if item is None:
                yield ": keep-alive\n\n"
                continue
            kind, data, _ = item
            if kind == "text_delta":
                streamed = True
                yield frame({"content": data["delta"]})
            elif kind == "execution":
                ended = data
            elif kind == "error":
                yield _error_frame(data.get("message", "the run failed"), "run_failed")
                yield "data: [DONE]\n\n"
                return
    else:  # an idempotent replay: nothing ran here
        ended = _ended(execution)
    if ended is None:
        ended = _ended(execution)
    try:
        said = _answer(ended)
    except RunFailed as failed:
        yield _error_frame(failed.message, failed.code)
        yield "data: [DONE]\n\n"
        return
    if not streamed and said:
        yield frame({"content": said})
    elif ExecutionStatus(ended["status"]) == ExecutionStatus.waiting_approval:
        yield frame({"content": "\n\n" + said})
    yield frame({}, "stop")
    if include_usage:
        usage = ended.get("usage") or {}
        counted = _usage(usage.get("input_tokens"), usage.get("output_tokens"))
        chunk = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": counted.model_dump(),
        }
        yield f"data: {json.dumps(chunk)}\n\n"
    yield "data: [DONE]\n\n"


def _error_frame(message: str, code: str) -> str:
    error = {"message": message, "type": "server_error", "param": None, "code": code}
    return f"data: {json.dumps({'error': error}, ensure_ascii=False)}\n\n"
