"""The one place domain errors become HTTP responses. Every error has the same body:
{"error": {"code", "message", "details"}}; no stack trace ever leaves the process."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask, Response
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from core.errors import DomainError

log = logging.getLogger("core.http")

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int,
    code: str,
    message: str,
    details: Iterable[Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = {"error": {"code": code, "message": message, "details": list(details)}}
    response = Response(json.dumps(body, default=str), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def validation_details(exc: ValidationError, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "loc": [prefix, *err["loc"]] if prefix else list(err["loc"]),
            "msg": err["msg"],
            "type": err["type"],
        }
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def handle_domain_error(exc: DomainError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


def handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    message = {
        404: "no such resource",
        405: "method not allowed on this resource",
        413: "request body too large",
    }.get(status, exc.description or "request failed")
    headers = {"Allow": ", ".join(exc.valid_methods)} if getattr(exc, "valid_methods", None) else {}
    return error_response(status, _HTTP_CODES.get(status, "http_error"), message, headers=headers)


def handle_unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return handle_http_exception(exc)
    if isinstance(exc, OperationalError | PoolTimeout) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        log.warning("database unavailable: %s", exc.__class__.__name__)
        return error_response(
            503,
            "unavailable",
            "the database is unavailable; retry shortly",
            headers={"Retry-After": "5"},
        )
    log.exception("unhandled error")
    return error_response(500, "internal_error", "the service failed to handle this request")


def install_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
