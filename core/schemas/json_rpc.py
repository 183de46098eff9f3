"""JSON-RPC 2.0 as the MCP server (/mcp) and the A2A agents (/a2a) take and answer it: one
message per request, and the error codes JSON-RPC defines."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.schemas.common import ResponseModel

JsonRpcId = int | str | None

# JSON-RPC's own error codes
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602


class JsonRpcMessage(BaseModel):
    """A JSON-RPC request (with `id`) or notification (without). Checked by the server, which
    answers a message that is not JSON-RPC with JSON-RPC's own errors."""

    model_config = ConfigDict(extra="allow")

    jsonrpc: str | None = None
    id: JsonRpcId = None
    method: str | None = Field(default=None, max_length=200)
    params: dict[str, Any] | None = None


class JsonRpcError(ResponseModel):
    code: int
    message: str
    data: Any = None


class JsonRpcResponse(ResponseModel):
    jsonrpc: str = "2.0"
    id: JsonRpcId = None
    result: dict[str, Any] | None = None
    error: JsonRpcError | None = None


def rpc_result(rpc_id: JsonRpcId, result: dict[str, Any]) -> JsonRpcResponse:
    return JsonRpcResponse(id=rpc_id, result=result)


def rpc_error(rpc_id: JsonRpcId, code: int, message: str) -> JsonRpcResponse:
    return JsonRpcResponse(id=rpc_id, error=JsonRpcError(code=code, message=message))
