"""A handler's result as the response: its schema's JSON, its status and headers (a `Reply`)."""

from __future__ import annotations

from typing import Any

from flask import Response
from pydantic import BaseModel

from core.http.endpoint import Endpoint
from core.replies import Reply


def serialize(endpoint: Endpoint, result: Any) -> Response:
    status, headers = endpoint.status, {}
    if isinstance(result, Reply):
        status = result.status or status
        headers = result.headers
        result = result.body
    if isinstance(result, Response):
        return result
    if result is None or status == 204:
        response = Response(status=204 if result is None else status)
    else:
        payload = _to_model(endpoint.response, result)
        response = Response(payload, status=status, mimetype="application/json")
    for name, value in headers.items():
        response.headers[name] = value
    if endpoint.secret:
        response.headers["Cache-Control"] = "no-store"
    return response


def _to_model(response_model: Any, result: Any) -> bytes:
    if isinstance(result, BaseModel) and (
        response_model is None or isinstance(result, response_model)
    ):
        return result.model_dump_json().encode()
    if response_model is None:
        raise TypeError("a route returning data must declare its response model")
    adapter = _adapter(response_model)
    return bytes(adapter.dump_json(adapter.validate_python(result, from_attributes=True)))


_adapters: dict[Any, Any] = {}


def _adapter(model: Any) -> Any:
    if model not in _adapters:
        from pydantic import TypeAdapter

        _adapters[model] = TypeAdapter(model)
    return _adapters[model]
