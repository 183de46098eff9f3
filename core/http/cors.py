"""Cross-origin requests from browsers (CORS): only the origins ALLOWED_ORIGINS lists.

A preflight (OPTIONS with Access-Control-Request-Method) from a listed origin is answered 204
with what it may send; from any other origin 403 with the error body. Responses to a listed
origin name it (never `*`) and vary by Origin. The API authenticates with bearer tokens, not
cookies, so credentials are never allowed."""

from __future__ import annotations

from flask import Flask, Response, request

from core.http.errors import error_response

METHODS = "GET, POST, PUT, PATCH, DELETE"
REQUEST_HEADERS = "Authorization, Content-Type, Last-Event-ID"
EXPOSED_HEADERS = "Location, Retry-After, RateLimit, RateLimit-Policy"
PREFLIGHT_MAX_AGE_S = 600


def install_cors(app: Flask) -> None:
    app.before_request(_preflight)
    app.after_request(_name_the_origin)


def _allowed(origin: str) -> bool:
    from core.config import get_settings

    return origin in get_settings().cors_origins


def _preflight() -> Response | None:
    origin = request.headers.get("Origin")
    if (
        request.method != "OPTIONS"
        or origin is None
        or "Access-Control-Request-Method" not in request.headers
    ):
        return None
    if not _allowed(origin):
        return error_response(
            403, "origin_not_allowed", f"cross-origin requests from {origin} are not allowed"
        )
    response = Response(status=204)
    del response.headers["Content-Type"]  # no body
    response.headers["Access-Control-Allow-Methods"] = METHODS
    response.headers["Access-Control-Allow-Headers"] = REQUEST_HEADERS
    response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_S)
    return response


def _name_the_origin(response: Response) -> Response:
    origin = request.headers.get("Origin")
    if origin is not None:
        response.vary.add("Origin")
        if _allowed(origin):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    return response
