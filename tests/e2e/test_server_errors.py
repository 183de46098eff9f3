"""What the HTTP server answers before (or instead of) a handler is the error body too: a request
line or headers over gunicorn's limits (414, 431) and a body that stops arriving (408 after
REQUEST_BODY_TIMEOUT_S), over real sockets to `make dev`'s server."""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from tests.e2e.conftest import BODY_TIMEOUT_S


def exchange(base_url: str, data: bytes, wait_s: float = 15) -> tuple[int, dict[str, Any], float]:
    """Send raw bytes; the status, the JSON body and the seconds the answer took."""
    address = urlsplit(base_url)
    with socket.create_connection((address.hostname, address.port), timeout=wait_s) as sock:
        started = time.monotonic()
        sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        head, _, body = received.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += sock.recv(65536)
        took = time.monotonic() - started
    status = int(head.split(b" ")[1])
    return status, json.loads(body), took


def test_a_request_line_over_the_limit_is_414_in_the_error_body(base_url: str) -> None:
    status, body, _ = exchange(
        base_url, b"GET /agents?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert (status, body["error"]["code"]) == (414, "uri_too_long")


def test_headers_over_the_limit_are_431_in_the_error_body(base_url: str) -> None:
    status, body, _ = exchange(
        base_url, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
    )
    assert (status, body["error"]["code"]) == (431, "headers_too_large")


def test_a_body_that_stops_arriving_is_408_after_the_timeout(base_url: str) -> None:
    status, body, took = exchange(
        base_url,
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"username":',
    )
    assert (status, body["error"]["code"]) == (408, "request_timeout")
    assert BODY_TIMEOUT_S * 0.9 <= took < BODY_TIMEOUT_S + 5


def test_json_needs_a_json_content_type(base_url: str) -> None:
    status, body, _ = exchange(
        base_url,
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 2\r\n\r\n{}",
    )
    assert (status, body["error"]["code"]) == (415, "json_required")
