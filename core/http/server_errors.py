"""What the HTTP server answers by itself, in the contract's error body: gunicorn refuses a
request line over 4094 bytes (414), headers over its limits (431) or a malformed request (400)
before any application code runs, with an HTML page of its own; `install` makes it write the
error body instead. And a body that stops arriving: reads of it time out after
REQUEST_BODY_TIMEOUT_S and the request is answered 408 (`bound_body_reads`)."""

from __future__ import annotations

import json
import sys
from typing import Any

CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "headers_too_large",
    500: "internal_error",
    501: "not_implemented",
}


def install() -> None:
    """Patch the running gunicorn (functions-framework's or `make dev`'s), if any."""
    util: Any = sys.modules.get("gunicorn.util")
    if util is not None and util.write_error is not _write_error:
        util.write_error = _write_error


def _write_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    from gunicorn.util import write_nonblock

    body = json.dumps(
        {
            "error": {
                "code": CODES.get(status_int, "bad_request"),
                "message": f"{reason}: {mesg[:200]}",
                "details": [],
            }
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")
    write_nonblock(sock, head + body)


def bound_body_reads(environ: dict[str, Any], timeout_s: float) -> None:
    """Reads of this request's body give up after `timeout_s` of silence (TimeoutError)."""
    sock = environ.get("gunicorn.socket")
    if sock is not None and environ.get("CONTENT_LENGTH"):
        sock.settimeout(timeout_s)
