"""JSON-RPC 2.0 as the MCP server (/mcp) and the A2A agents (/a2a) take and answer it: one
message per request, and the error codes JSON-RPC defines."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

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

    # unannotated return: pydantic then documents the fields, where `-> Any` would document {}
    @model_serializer(mode="wrap")
    def _without_absent_data(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        said = handler(self)
        if self.data is None:
            said.pop("data", None)
        return said


def _one_of_result_or_error(schema: dict[str, Any]) -> None:
    properties = schema["properties"]
    properties["result"] = {"type": "object", "additionalProperties": True}
    properties["error"] = {"$ref": properties["error"]["anyOf"][0]["$ref"]}
    schema["oneOf"] = [{"required": ["result"]}, {"required": ["error"]}]


class JsonRpcResponse(ResponseModel):
    """A success has `result`, a failure `error`, never both: strict clients (the TypeScript MCP
    SDK that Claude Desktop and Cursor use) refuse an answer holding the other as null."""

    model_config = ConfigDict(json_schema_extra=_one_of_result_or_error)

    jsonrpc: str = "2.0"
    id: JsonRpcId = None
    result: dict[str, Any] | None = None
    error: JsonRpcError | None = None

    @model_serializer(mode="wrap")  # unannotated return, as above
    def _result_or_error(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        said = handler(self)
        said.pop("result" if self.error is not None else "error", None)
        return said


def rpc_result(rpc_id: JsonRpcId, result: dict[str, Any]) -> JsonRpcResponse:
    return JsonRpcResponse(id=rpc_id, result=result)


def rpc_error(rpc_id: JsonRpcId, code: int, message: str) -> JsonRpcResponse:
    return JsonRpcResponse(id=rpc_id, error=JsonRpcError(code=code, message=message))
