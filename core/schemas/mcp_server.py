"""JSON-RPC 2.0 as the MCP server (/mcp) takes and answers it: one message per request."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.schemas.common import ResponseModel

JsonRpcId = int | str | None


class McpMessage(BaseModel):
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
