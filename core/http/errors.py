"""The one place domain errors become HTTP responses. Every error has the same body:
{"error": {"code", "message", "details"}}; no stack trace ever leaves the process."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask, Response, has_request_context, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from core.errors import DatabaseUnavailable, DomainError, field_error

log = logging.getLogger("core.http")

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


# the OpenAI-compatible routes: their errors also carry OpenAI's `type` and `param`
OPENAI_PATHS = "/v1/"
_OPENAI_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


def error_response(
    status: int,
    code: str,
    message: str,
    details: Iterable[Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    listed = list(details)
    error = {"code": code, "message": message, "details": listed, **(extra or {})}
    if has_request_context() and request.path.startswith(OPENAI_PATHS):
        kind = (
            "server_error" if status >= 500 else _OPENAI_TYPES.get(status, "invalid_request_error")
        )
        error |= {"type": kind, "param": listed[0].get("path") or None if listed else None}
    body = {"error": error}
    response = Response(json.dumps(body, default=str), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def validation_details(exc: ValidationError, prefix: str) -> list[dict[str, Any]]:
    return [
        field_error([prefix, *err["loc"]] if prefix else list(err["loc"]), err["msg"], err["type"])
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def error_headers(exc: DomainError) -> dict[str, str]:
    """The headers a domain error's facts become: when to retry, where to follow."""
    headers: dict[str, str] = {}
    if exc.retry_after_s is not None:
        headers["Retry-After"] = str(exc.retry_after_s)
    if exc.location is not None:
        headers["Location"] = exc.location
    return headers


def handle_domain_error(exc: DomainError) -> Response:
    if exc.status == 413:
        drain_request_body()
    return error_response(
        exc.status, exc.code, exc.message, exc.details, error_headers(exc), exc.extra
    )


DRAIN_LIMIT = 64 * 1024 * 1024


def drain_request_body() -> None:
    """Read and drop an unread request body (bounded) so that a 413 answered early reaches the
    client instead of a connection reset from closing a socket with unread data."""
    if not has_request_context():
        return
    stream = request.environ.get("wsgi.input")
    remaining = min(request.content_length or DRAIN_LIMIT, DRAIN_LIMIT)
    try:
        while stream is not None and remaining > 0:
            chunk = stream.read(min(65536, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
    except (OSError, HTTPException):  # the client went away: nothing left to drain
        pass


def handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status == 413:
        drain_request_body()
    message = {
        404: "no such resource",
        405: "method not allowed on this resource",
        413: "request body too large",
    }.get(status, exc.description or "request failed")
    allowed = getattr(exc, "valid_methods", None)
    headers = {"Allow": ", ".join(allowed)} if allowed else {}
    return error_response(status, _HTTP_CODES.get(status, "http_error"), message, headers=headers)


def handle_unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return handle_http_exception(exc)
    from core.db.availability import database_unavailable

    if database_unavailable(exc):
        log.warning("database unavailable: %s", exc.__class__.__name__)
        return handle_domain_error(DatabaseUnavailable())
    log.exception("unhandled error")
    return error_response(500, "internal_error", "the service failed to handle this request")


def install_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
