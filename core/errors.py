"""Domain errors. Raised anywhere in core; mapped to HTTP statuses in exactly one place
(core.http.errors)."""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every error the API reports to a caller on purpose."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
        retry_after_s: int | None = None,
        location: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.details = details or []
        # when a retry may succeed, and where the thing the error is about can be followed
        # (core.http.errors makes them the Retry-After and Location headers)
        self.retry_after_s = retry_after_s
        self.location = location
        # more fields of the error body (each one stated in the document's ErrorBody)
        self.extra = extra or {}


class BadRequest(DomainError):
    status = 400
    code = "bad_request"


class RequestTimeout(DomainError):
    """The body stopped arriving (REQUEST_BODY_TIMEOUT_S). (Connection is a hop-by-hop header a
    WSGI application may not set: the server decides whether the connection stays open.)"""

    status = 408
    code = "request_timeout"

    def __init__(self, message: str = "the request body stopped arriving") -> None:
        super().__init__(message)


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"


class Invalid(DomainError):
    """Input that parses but breaks a rule: 422 with the offending field paths in details."""

    status = 422
    code = "validation_error"


class LimitReached(DomainError):
    status = 429
    code = "limit_reached"


class InsufficientStorage(DomainError):
    """The service's storage is full: nothing was written; retrying helps only once an operator
    made room."""

    status = 507
    code = "storage_full"


class RunFailed(DomainError):
    """A protocol that cannot say "the run failed" in its answer (the OpenAI chat API): the
    agent's run ended failed, timed out or cancelled (its execution is named)."""

    status = 502
    code = "run_failed"


class Unavailable(DomainError):
    """A dependency (database, queue, model provider) is down; the caller may retry."""

    status = 503
    code = "unavailable"


RETRY_AFTER_S = 5  # what a 503 for the database tells a caller to wait


class DatabaseUnavailable(Unavailable):
    """The database cannot be reached; the caller may retry in a few seconds."""

    def __init__(self, message: str = "the database is unavailable; retry shortly") -> None:
        super().__init__(message, retry_after_s=RETRY_AFTER_S)


class TooBusy(Unavailable):
    """Every thread this instance runs streamed runs on is taken: refused before the run is
    written (queued for a thread, its lease and timeout would run while it waits)."""

    code = "too_busy"

    def __init__(self, message: str) -> None:
        super().__init__(message, retry_after_s=2)


class RunGoesOn(Unavailable):
    """The request made a run, and then lost its dependency (the database) while answering:
    the run is not lost, it goes on once the database is back. The answer names it, with a
    `Location` to follow it."""

    def __init__(
        self, execution_id: object, reason: str = "the database became unreachable"
    ) -> None:
        super().__init__(
            f"{reason} while the run was going on; it is kept and goes on when the database "
            f"is back: follow it at /executions/{execution_id}",
            retry_after_s=RETRY_AFTER_S,
            location=f"/executions/{execution_id}",
            extra={"execution_id": str(execution_id)},
        )


class ConfigError(RuntimeError):
    """The service is misconfigured and must not start."""


def json_path(loc: list[str | int] | tuple[str | int, ...]) -> str:
    """("body", "definition", "tools", 0, "name") -> "definition.tools[0].name"."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path"):
        parts = parts[1:]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def field_error(loc: list[str | int], msg: str, type: str) -> dict[str, Any]:
    """One entry of a 422's details: where (loc and its dotted path), what, and a type code."""
    return {"loc": loc, "path": json_path(loc), "msg": msg, "type": type}
