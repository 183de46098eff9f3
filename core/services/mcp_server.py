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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from core.access.agents import executable_agents_clause
from core.access.callers import account_of
from core.errors import DomainError
from core.models.agents import Agent
from core.models.executions import ExecutionStatus
from core.models.users import User
from core.runs.backends import Backends
from core.runs.starting import start_run
from core.schemas.agents import ExecuteRequest
from core.schemas.mcp_server import JsonRpcError, JsonRpcResponse, McpMessage

if TYPE_CHECKING:
    from core.access.callers import Caller

VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
SERVER_INFO = {"name": "agents-service", "version": "1.0.0"}
TOOLS_LISTED = 200
# JSON-RPC's codes
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602

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


def agent_tools(db: Session, user: User) -> list[AgentTool]:
    """The caller's runnable agents as tools, their own first; a name two agents share gets
    its owner's username after `__` (tool names allow letters, digits, _ - .)."""
    owner = User.__table__.alias("owner")
    rows = db.execute(
        select(Agent.id, Agent.name, Agent.display_name, Agent.description, owner.c.username)
        .join(owner, owner.c.id == Agent.owner_id)
        .where(executable_agents_clause(user.id))
        .order_by(case((Agent.owner_id == user.id, 0), else_=1), Agent.name, Agent.id)
        .limit(TOOLS_LISTED)
    ).all()
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.name] = counts.get(row.name, 0) + 1
    tools = []
    for row in rows:
        name = row.name if counts[row.name] == 1 else f"{row.name}__{row.username}"
        about = row.description or row.display_name
        tools.append(
            AgentTool(name[:128], row.id, f"{row.display_name} (by {row.username}): {about}")
        )
    return tools


def tool_agent(db: Session, user_id: uuid.UUID, tool: str) -> uuid.UUID | None:
    """The agent a tool name names (as `agent_tools` names them), found by that name alone."""
    name, _, owner_name = tool.partition("__")
    owner = User.__table__.alias("owner")
    rows = db.execute(
        select(Agent.id, owner.c.username)
        .join(owner, owner.c.id == Agent.owner_id)
        .where(executable_agents_clause(user_id), Agent.name == name)
        .limit(TOOLS_LISTED)
    ).all()
    if not owner_name:
        return rows[0].id if len(rows) == 1 else None
    if len(rows) < 2:
        return None
    return next((row.id for row in rows if row.username == owner_name), None)


def handle(
    db: Session, *, caller: Caller, message: McpMessage, backends: Backends
) -> JsonRpcResponse | None:
    """The answer to one message (None for a notification: nothing is answered)."""
    if message.jsonrpc != "2.0" or not message.method:
        return _error(message.id, INVALID_REQUEST, "not a JSON-RPC 2.0 request")
    if "id" not in message.model_fields_set:
        return None  # a notification (notifications/initialized, cancelled, …)
    params = message.params or {}
    if message.method == "initialize":
        asked = params.get("protocolVersion")
        version = asked if asked in VERSIONS else VERSIONS[-1]
        return _result(
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
        return _result(message.id, {})
    if message.method == "tools/list":
        user = account_of(db, caller)
        tools = [
            {"name": t.name, "description": t.description, "inputSchema": INPUT_SCHEMA}
            for t in agent_tools(db, user)
        ]
        return _result(message.id, {"tools": tools})
    if message.method == "tools/call":
        return _call(db, caller, message.id, params, backends)
    return _error(message.id, METHOD_NOT_FOUND, f"no method {message.method!r} here")


def _call(
    db: Session, caller: Caller, rpc_id: Any, params: dict[str, Any], backends: Backends
) -> JsonRpcResponse:
    name, arguments = params.get("name"), params.get("arguments") or {}
    if not isinstance(name, str) or not isinstance(arguments, dict):
        return _error(rpc_id, INVALID_PARAMS, "tools/call wants {name, arguments}")
    # the account and the access are checked again by the statement that starts the run
    agent_id = tool_agent(db, caller.user_id, name)
    if agent_id is None:
        return _error(rpc_id, INVALID_PARAMS, f"no tool {name!r}: tools/list names them")
    said, session = arguments.get("input"), arguments.get("session_id")
    unknown = set(arguments) - {"input", "session_id"}
    if not isinstance(said, str) or not said.strip() or unknown:
        return _error(rpc_id, INVALID_PARAMS, "arguments: {input: text, session_id?: uuid}")
    try:
        session_id = uuid.UUID(session) if session is not None else None
    except (ValueError, TypeError, AttributeError):
        return _error(rpc_id, INVALID_PARAMS, "session_id must be a session's id")
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
    return _result(rpc_id, result)


def _result(rpc_id: Any, result: dict[str, Any]) -> JsonRpcResponse:
    return JsonRpcResponse(id=rpc_id, result=result)


def _error(rpc_id: Any, code: int, message: str) -> JsonRpcResponse:
    return JsonRpcResponse(id=rpc_id, error=JsonRpcError(code=code, message=message))
