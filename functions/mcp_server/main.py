"""Cloud Function `mcp_server`: the caller's agents as an MCP server's tools (/mcp)."""

from __future__ import annotations

from flask import Response
from sqlalchemy.orm import Session

from core.access.callers import Caller
from core.agents import AGENT_RUNTIME
from core.http import RouteGroup
from core.http.app import function_entry
from core.http.endpoint import NoBody
from core.runs.backends import Backends
from core.schemas.json_rpc import JsonRpcMessage, JsonRpcResponse
from core.services import mcp_server as service

routes = RouteGroup(
    "mcp_server",
    path="/mcp",
    description="MCP (streamable HTTP, stateless, JSON answers): your agents as tools",
)


@routes.post(
    "",
    body=JsonRpcMessage,
    response=JsonRpcResponse,
    auth="token",
    keys="execute",
    responses={202: NoBody("a notification: nothing to answer")},
    needs=AGENT_RUNTIME,
)
def mcp(body: JsonRpcMessage, caller: Caller, db: Session, backends: Backends) -> object:
    """One JSON-RPC message of MCP: initialize, ping, tools/list (the agents you may run, each
    taking {input, session_id?}) and tools/call (a run of that agent: its output, or an error
    result naming the execution to approve). A message that is not JSON-RPC gets JSON-RPC's
    error; a notification gets 202 and no body."""
    answer = service.handle(db, caller=caller, message=body, backends=backends)
    return Response(status=202) if answer is None else answer


entry = function_entry(lambda: routes)
