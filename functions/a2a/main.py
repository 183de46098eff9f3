"""Cloud Function `a2a`: each agent a caller may run as an A2A 1.0 agent (JSON-RPC binding)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import request
from sqlalchemy.orm import Session

from core.access.callers import Caller
from core.agents import AGENT_RUNTIME
from core.http import RouteGroup
from core.http.app import function_entry
from core.http.streams import event_stream
from core.models.users import User
from core.runs.backends import Backends
from core.schemas.a2a import A2aAgentCard
from core.schemas.json_rpc import JsonRpcMessage, JsonRpcResponse
from core.services import a2a_server as service

routes = RouteGroup("a2a", description="A2A 1.0 (JSON-RPC): your agents as A2A agents")


@routes.get(
    "/agents/<uuid:agent_id>/.well-known/agent-card.json", response=A2aAgentCard, auth="optional"
)
def agent_card(agent_id: uuid.UUID, user: User | None, db: Session) -> dict[str, Any]:
    """The agent's A2A card: public metadata only (name, description, skills from its tools,
    streaming, bearer security); 404 for an agent you may not see."""
    base = request.host_url.rstrip("/")
    return service.agent_card(db, user=user, agent_id=agent_id, base_url=base)


@routes.post(
    "/agents/<uuid:agent_id>",
    body=JsonRpcMessage,
    response=JsonRpcResponse,
    auth="token",
    keys="execute",
    needs=AGENT_RUNTIME,
    streams="SendStreamingMessage: JSON-RPC responses of StreamResponse (task, artifactUpdate, "
    "statusUpdate)",
)
def rpc(
    agent_id: uuid.UUID, body: JsonRpcMessage, caller: Caller, db: Session, backends: Backends
) -> object:
    """A2A's JSON-RPC: SendMessage, SendStreamingMessage, GetTask and CancelTask; a task is an
    execution, a contextId one of your sessions of this agent (a new id makes one)."""
    answer = service.handle(db, caller=caller, agent_id=agent_id, message=body, backends=backends)
    if isinstance(answer, JsonRpcResponse):
        return answer
    frames, execution_id = answer
    return event_stream(
        frames, user_id=caller.user_id, headers={"Location": f"/executions/{execution_id}"}
    )


entry = function_entry(lambda: routes)
