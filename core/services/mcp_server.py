"""An MCP server of the caller's agents (streamable HTTP, stateless, JSON responses): each
agent they may run is a tool taking {input, session_id?}; a call is an ordinary sync run
(core.runs.starting: access, quotas, usage, the event log), its result the run's output (text,
and `structuredContent` for a structured output).

The initialize handshake of the 2024-11-05 to 2025-11-25 revisions; `server/discover` (the
2026 revision's probe) is unknown here, which clients answer by the handshake. No session is
kept between requests."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from core.access.agents import runnable_agents, runnable_agents_named
from core.access.callers import account_of
from core.errors import DomainError
from core.models.agents import Agent
from core.models.executions import ExecutionStatus
from core.runs.backends import Backends
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

VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
SERVER_INFO = {"name": "agents-service", "version": "1.0.0"}
TOOLS_LISTED = 200

INPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "input": {"type": "string", "description": "the message to the agent"},
        "session_id": {
            "type": "string",
            "format": "uuid",
            "description": "one of your sessions of this agent: it keeps the conversation",
        },
    },
    "required": ["input"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class AgentTool:
    name: str
    agent_id: uuid.UUID
    description: str


def _tool_names(rows: list[tuple[str, str]]) -> list[str]:
    """Each agent (name, owner's username) a tool named by its name; a name two agents share
    gets its owner's username after `__` (tool names allow letters, digits, _ - .)."""
    counts = Counter(name for name, _ in rows)
    return [(name if counts[name] == 1 else f"{name}__{username}")[:128] for name, username in rows]


def _as_tools(rows: list[tuple[Agent, str]]) -> list[AgentTool]:
    names = _tool_names([(agent.name, username) for agent, username in rows])
    return [
        AgentTool(
            name,
            agent.id,
            f"{agent.display_name} (by {username}): {agent.description or agent.display_name}",
        )
        for name, (agent, username) in zip(names, rows, strict=True)
    ]


def agent_tools(db: Session, user_id: uuid.UUID) -> list[AgentTool]:
    """The caller's runnable agents as tools, their own first."""
    return _as_tools(runnable_agents(db, user_id, limit=TOOLS_LISTED))


def tool_agent(db: Session, user_id: uuid.UUID, tool: str) -> uuid.UUID | None:
    """The agent a tool name names, as `agent_tools` names them, read with the agents of the
    names it may stand for (the whole name, or what precedes any `__` in it)."""
    parts = tool.split("__")
    names = {tool, *("__".join(parts[:i]) for i in range(1, len(parts)))}
    rows = runnable_agents_named(db, user_id, names, limit=TOOLS_LISTED)
    named = _tool_names([(name, username) for _, name, username in rows])
    return next(
        (agent_id for (agent_id, _, _), n in zip(rows, named, strict=True) if n == tool), None
    )


def handle(
    db: Session, *, caller: Caller, message: JsonRpcMessage, backends: Backends
) -> JsonRpcResponse | None:
    """The answer to one message (None for a notification: nothing is answered)."""
    if message.jsonrpc != "2.0" or not message.method:
        return rpc_error(message.id, INVALID_REQUEST, "not a JSON-RPC 2.0 request")
    if "id" not in message.model_fields_set:
        return None  # a notification (notifications/initialized, cancelled, …)
    params = message.params or {}
    if message.method == "initialize":
        asked = params.get("protocolVersion")
        version = asked if asked in VERSIONS else VERSIONS[-1]
        return rpc_result(
            message.id,
            {
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": SERVER_INFO,
                "instructions": "Each tool is one of your agents: call it with the message for "
                "it as `input` (and a `session_id` to keep a conversation).",
            },
        )
    if message.method == "ping":
        return rpc_result(message.id, {})
    if message.method == "tools/list":
        user = account_of(db, caller)
        tools = [
            {"name": t.name, "description": t.description, "inputSchema": INPUT_SCHEMA}
            for t in agent_tools(db, user.id)
        ]
        return rpc_result(message.id, {"tools": tools})
    if message.method == "tools/call":
        return _call(db, caller, message.id, params, backends)
    return rpc_error(message.id, METHOD_NOT_FOUND, f"no method {message.method!r} here")


def _call(
    db: Session, caller: Caller, rpc_id: Any, params: dict[str, Any], backends: Backends
) -> JsonRpcResponse:
    name, arguments = params.get("name"), params.get("arguments") or {}
    if not isinstance(name, str) or not isinstance(arguments, dict):
        return rpc_error(rpc_id, INVALID_PARAMS, "tools/call wants {name, arguments}")
    # the account and the access are checked again by the statement that starts the run
    agent_id = tool_agent(db, caller.user_id, name)
    if agent_id is None:
        return rpc_error(rpc_id, INVALID_PARAMS, f"no tool {name!r}: tools/list names them")
    said, session = arguments.get("input"), arguments.get("session_id")
    unknown = set(arguments) - {"input", "session_id"}
    if not isinstance(said, str) or not said.strip() or unknown:
        return rpc_error(rpc_id, INVALID_PARAMS, "arguments: {input: text, session_id?: uuid}")
    try:
        session_id = uuid.UUID(session) if session is not None else None
    except (ValueError, TypeError, AttributeError):
        return rpc_error(rpc_id, INVALID_PARAMS, "session_id must be a session's id")
    data = ExecuteRequest(input=said, **({"session_id": session_id} if session_id else {}))
    try:
        execution = start_run(db, caller=caller, agent_id=agent_id, data=data, backends=backends)
    except DomainError as refused:  # a quota, a busy session: the tool says so
        return _tool(rpc_id, f"{refused.code}: {refused.message}", error=True)
    status = ExecutionStatus(execution.status)
    where = f"/executions/{execution.id}"
    if status == ExecutionStatus.waiting_approval:
        calls = ", ".join(c["tool_name"] for c in execution.pending_approvals or [])
        return _tool(
            rpc_id,
            f"execution {execution.id} waits for a person to approve or deny: {calls}. Decide "
            f"at POST {where}/approvals (or in the console); it goes on after that.",
            error=True,
        )
    if status != ExecutionStatus.succeeded:
        why = (execution.error or {}).get("message") or status.value
        return _tool(rpc_id, f"execution {execution.id} ended {status.value}: {why}", error=True)
    output = execution.output
    text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
    structured = output if isinstance(output, dict) else None
    return _tool(rpc_id, text or "", structured=structured)


def _tool(
    rpc_id: Any, text: str, *, error: bool = False, structured: dict[str, Any] | None = None
) -> JsonRpcResponse:
    result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": error}
    if structured is not None:
        result["structuredContent"] = structured
    return rpc_result(rpc_id, result)
