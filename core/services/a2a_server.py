"""A2A 1.0 over JSON-RPC (as a2a-sdk 1.3 speaks it): each agent a caller may run is an A2A
agent at /a2a/agents/{id}. A task is an execution, a contextId one of the caller's sessions of
that agent (a new id makes one), `waiting_approval` is `input-required` (decided through the API
or the console, then read again with GetTask). Messages are the protobuf types' JSON form:
camelCase fields, enum names (ROLE_USER, TASK_STATE_COMPLETED).

A message's id is its idempotency key: sent again, it answers the task it made the first time
(and a message without a contextId finds the session that sending made).

SendMessage answers the finished task; SendStreamingMessage streams the task, then the answer's
text as artifact updates as the model writes it, then the final status. GetTask and CancelTask
map to the execution. Errors carry A2A's JSON-RPC codes."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from core.access.agents import OPEN_SCOPES, Access, agent_for
from core.access.callers import account_of
from core.errors import DomainError, NotFound
from core.models.agents import Agent
from core.models.executions import AgentExecution, ExecutionStatus
from core.models.users import User
from core.runs.backends import Backends
from core.runs.live import LiveRun
from core.runs.starting import start_run
from core.schemas.agents import ExecuteRequest
from core.schemas.json_rpc import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    JsonRpcMessage,
    JsonRpcResponse,
    rpc_error,
    rpc_result,
)

if TYPE_CHECKING:
    from core.access.callers import Caller

PROTOCOL_VERSION = "1.0"
# A2A's own JSON-RPC codes (a2a.utils.errors.JSON_RPC_ERROR_CODE_MAP)
TASK_NOT_FOUND = -32001
TASK_NOT_CANCELABLE = -32002

SENDS = ("SendMessage", "SendStreamingMessage")
STATES = {
    ExecutionStatus.queued: "TASK_STATE_SUBMITTED",
    ExecutionStatus.running: "TASK_STATE_WORKING",
    ExecutionStatus.waiting_approval: "TASK_STATE_INPUT_REQUIRED",
    ExecutionStatus.succeeded: "TASK_STATE_COMPLETED",
    ExecutionStatus.failed: "TASK_STATE_FAILED",
    ExecutionStatus.timed_out: "TASK_STATE_FAILED",
    ExecutionStatus.cancelled: "TASK_STATE_CANCELED",
}


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def agent_card(
    db: Session, *, user: User | None, agent_id: uuid.UUID, base_url: str
) -> dict[str, Any]:
    """The agent's card: public metadata only (no definition, prompt or settings); a 404 for
    an agent the caller may not see (anonymous callers see public and system agents)."""
    if user is None:
        agent = db.get(Agent, agent_id)
        if agent is None or agent.deleted_at is not None or agent.scope not in OPEN_SCOPES:
            raise NotFound("no such agent", code="agent_not_found")
    else:
        agent = agent_for(db, user, agent_id, Access.read)
    tools = [
        t.get("name") for t in (agent.definition or {}).get("tools", []) if t.get("enabled", True)
    ]
    url = f"{base_url}/a2a/agents/{agent.id}"
    return {
        "name": agent.display_name,
        "description": agent.description or agent.display_name,
        "version": agent.version,
        "supportedInterfaces": [
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": PROTOCOL_VERSION}
        ],
        "capabilities": {"streaming": True, "pushNotifications": False},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain", "application/json"],
        "skills": [
            {
                "id": agent.name,
                "name": agent.display_name,
                "description": agent.description or agent.display_name,
                "tags": [str(t) for t in tools if t],
            }
        ],
        "securitySchemes": {
            "bearer": {
                "httpAuthSecurityScheme": {
                    "scheme": "bearer",
                    "description": "an API key (execute scope) or a user's access token",
                }
            }
        },
        "securityRequirements": [{"schemes": {"bearer": {"list": []}}}],
    }


def handle(
    db: Session, *, caller: Caller, agent_id: uuid.UUID, message: JsonRpcMessage, backends: Backends
) -> JsonRpcResponse | tuple[AsyncIterator[str], uuid.UUID]:
    """One JSON-RPC request: its answer, or for SendStreamingMessage its SSE frames. An agent
    the caller may not see has no A2A endpoint: a 404 before any JSON-RPC."""
    rid = message.id
    if message.method not in SENDS:  # a send finds out with its session (open_thread)
        agent_for(db, account_of(db, caller), agent_id, Access.read)
    try:
        if message.jsonrpc != "2.0" or not message.method:
            raise RpcError(INVALID_REQUEST, "not a JSON-RPC 2.0 request")
        params = message.params or {}
        if message.method == "SendMessage":
            execution = _send(db, caller, agent_id, params, backends, None)
            return rpc_result(rid, {"task": task_of(execution)})
        if message.method == "SendStreamingMessage":
            live = LiveRun()
            execution = _send(db, caller, agent_id, params, backends, live)
            return _stream(rid, live, execution), execution.id
        if message.method == "GetTask":
            return rpc_result(rid, task_of(_task(db, caller, agent_id, params)))
        if message.method == "CancelTask":
            return rpc_result(rid, _cancel(db, caller, agent_id, params, backends))
        raise RpcError(METHOD_NOT_FOUND, f"no method {message.method!r} here")
    except RpcError as failed:
        return rpc_error(rid, failed.code, failed.message)


def _text_of(message: dict[str, Any]) -> str:
    parts = message.get("parts")
    if not isinstance(parts, list):
        raise RpcError(INVALID_PARAMS, "message.parts: a list of parts")
    texts = []
    for part in parts:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part, dict) and "data" in part:
            texts.append(json.dumps(part["data"], ensure_ascii=False))
        else:
            raise RpcError(INVALID_PARAMS, "only text and data parts reach an agent over A2A")
    said = "\n".join(texts)
    if not said.strip():
        raise RpcError(INVALID_PARAMS, "the message has no text")
    return said


def _send(
    db: Session,
    caller: Caller,
    agent_id: uuid.UUID,
    params: dict[str, Any],
    backends: Backends,
    live: LiveRun | None,
) -> AgentExecution:
    from core.services.sessions import open_thread

    message = params.get("message")
    if not isinstance(message, dict):
        raise RpcError(INVALID_PARAMS, "params.message is required")
    said = _text_of(message)
    key = _idempotency_key(message.get("messageId"))
    context = message.get("contextId") or (
        # a message sent again without a context finds the session its first sending made
        str(uuid.uuid5(caller.user_id, key)) if key else str(uuid.uuid4())
    )
    try:
        session_id = uuid.UUID(str(context))
    except ValueError:
        raise RpcError(INVALID_PARAMS, "contextId: one of your sessions' ids (a UUID)") from None
    try:
        thread = open_thread(
            db, caller=caller, agent_id=agent_id, session_id=session_id, title=said[:80]
        )
        return start_run(
            db,
            caller=caller,
            agent_id=agent_id,
            data=ExecuteRequest(input=said, session_id=thread, idempotency_key=key),
            backends=backends,
            live=live,
        )
    except NotFound:
        raise  # no such agent for the caller, or another's session: a 404, as for any route
    except DomainError as refused:
        raise RpcError(INVALID_PARAMS, f"{refused.code}: {refused.message}") from None


def _idempotency_key(message_id: Any) -> str | None:
    """A message's id names it: the same message sent again (a retry, a redelivered caller)
    gets the task it already made, as an idempotency key does for an execute."""
    if not isinstance(message_id, str) or not message_id:
        return None
    key = f"a2a:{message_id}"
    printable = all("\x21" <= c <= "\x7e" for c in key)
    return key if printable and len(key) <= 200 else None


def _task(
    db: Session, caller: Caller, agent_id: uuid.UUID, params: dict[str, Any]
) -> AgentExecution:
    try:
        task_id = uuid.UUID(str(params.get("id")))
    except ValueError:
        raise RpcError(TASK_NOT_FOUND, "no such task") from None
    execution = db.get(AgentExecution, task_id)
    if execution is None or execution.user_id != caller.user_id or execution.agent_id != agent_id:
        raise RpcError(TASK_NOT_FOUND, "no such task")
    return execution


def _cancel(
    db: Session, caller: Caller, agent_id: uuid.UUID, params: dict[str, Any], backends: Backends
) -> dict[str, Any]:
    from core.services.executions import cancel_execution

    execution = _task(db, caller, agent_id, params)
    try:
        cancelled = cancel_execution(
            db, user=account_of(db, caller), execution_id=execution.id, backends=backends
        )
    except DomainError as refused:
        raise RpcError(TASK_NOT_CANCELABLE, refused.message) from None
    # a running run stops at its next heartbeat: GetTask then says so
    return task_of(cancelled)


def task_of(execution: AgentExecution) -> dict[str, Any]:
    status = ExecutionStatus(execution.status)
    task: dict[str, Any] = {
        "id": str(execution.id),
        "contextId": str(execution.session_id) if execution.session_id else "",
        "status": _status(
            status,
            execution.pending_approvals,
            execution.error,
            execution.finished_at,
            str(execution.id),
        ),
        "history": [_message("ROLE_USER", execution.input, execution)],
    }
    if status == ExecutionStatus.succeeded:
        task["artifacts"] = [_artifact(execution.output)]
    return task


def _status(
    status: ExecutionStatus, pending: Any, error: Any, at: datetime | None, task_id: str
) -> dict[str, Any]:
    said: dict[str, Any] = {
        "state": STATES[status],
        "timestamp": (at or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
    }
    note = None
    if status == ExecutionStatus.waiting_approval:
        calls = ", ".join(c["tool_name"] for c in pending or [])
        where = f"POST /executions/{task_id}/approvals"
        note = f"waiting for a person to approve or deny: {calls} ({where})"
    elif status in (ExecutionStatus.failed, ExecutionStatus.timed_out):
        note = (error or {}).get("message") or status.value
    if note:
        said["message"] = {
            "messageId": str(uuid.uuid4()),
            "role": "ROLE_AGENT",
            "parts": [{"text": note}],
        }
    return said


def _message(role: str, content: Any, execution: AgentExecution) -> dict[str, Any]:
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    return {
        "messageId": f"{execution.id}-{role.lower()}",
        "contextId": str(execution.session_id) if execution.session_id else "",
        "taskId": str(execution.id),
        "role": role,
        "parts": [{"text": text}],
    }


def _artifact(output: Any) -> dict[str, Any]:
    part = {"text": output} if isinstance(output, str) else {"data": output}
    return {"artifactId": "answer", "name": "answer", "parts": [part]}


async def _stream(rid: Any, live: LiveRun, execution: AgentExecution) -> AsyncIterator[str]:
    """The task as it starts, its answer's text as artifact updates, the final status."""
    task_id, context = str(execution.id), str(execution.session_id or "")

    def frame(result: dict[str, Any]) -> str:
        body = {"jsonrpc": "2.0", "id": rid, "result": result}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    started = task_of(execution)
    started["status"] = {"state": "TASK_STATE_WORKING"}
    started.pop("artifacts", None)
    yield frame({"task": started})
    ended: dict[str, Any] | None = None
    chunks = 0
    if live.launched:
        async for item in live.items():
            if item is None:
                yield ": keep-alive\n\n"
                continue
            kind, data, _ = item
            if kind == "text_delta":
                update = {
                    "taskId": task_id,
                    "contextId": context,
                    "artifact": {
                        "artifactId": "answer",
                        "name": "answer",
                        "parts": [{"text": data["delta"]}],
                    },
                    "append": chunks > 0,
                    "lastChunk": False,
                }
                chunks += 1
                yield frame({"artifactUpdate": update})
            elif kind == "execution":
                ended = data
            elif kind == "error":
                ended = {"status": "failed", "error": data}
    status = ExecutionStatus((ended or {}).get("status", execution.status))
    if status == ExecutionStatus.succeeded and not chunks:
        output = (ended or {}).get("output")
        yield frame(
            {
                "artifactUpdate": {
                    "taskId": task_id,
                    "contextId": context,
                    "artifact": _artifact(output),
                    "append": False,
                    "lastChunk": True,
                }
            }
        )
    final = _status(
        status,
        (ended or {}).get("pending_approvals"),
        (ended or {}).get("error"),
        None,
        task_id,
    )
    yield frame({"statusUpdate": {"taskId": task_id, "contextId": context, "status": final}})
