"""The front every process serves through (`make dev` under uvicorn, each Cloud Function under
functions-framework's ASGI mode): the Flask app of the route groups behind an event loop.

- The request head is checked first (a request line over 4094 bytes: 414, a header over 8190
  bytes or more than 100 of them: 431), in the error body.
- The body is read on the loop, bounded by the app's largest body limit (413) and by
  REQUEST_BODY_TIMEOUT_S between its chunks (408): a slow client holds no thread.
- The app then runs on a pool of `threads` request threads, bounded like a WSGI server's.
- A response whose body is an event stream (core.http.streams) goes back to the loop: an
  open stream (a follower, a streamed run) costs no request thread, and a client that hangs
  up ends it at once. Any other body is sent from its request thread, chunk by chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger("core.http")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# as long as a header may be (8190): a long query is read, and its field named in a 422
MAX_REQUEST_LINE = 8190
MAX_HEADER_BYTES = 8190
MAX_HEADERS = 100
DRAIN_LIMIT = 64 * 1024 * 1024  # a refused body is read (and dropped) up to this much
WHOLE_BODY_BYTES = 256 * 1024  # an answer up to this size is read whole on its request thread


class AsgiFront:
    def __init__(
        self,
        app: WsgiApp,
        *,
        threads: int,
        max_body_bytes: int,
        body_timeout_s: float,
        on_startup: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.on_startup = on_startup
        self.threads = threads
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="request")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.on_startup is not None:
                    await asyncio.get_running_loop().run_in_executor(None, self.on_startup)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.pool.shutdown(wait=False, cancel_futures=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = _head_refused(scope)
        if refused is not None:
            await _drain(receive, self.body_timeout_s)
            await _error(send, *refused)
            return
        try:
            body = await _read_body(scope, receive, self.max_body_bytes, self.body_timeout_s)
        except _TooLarge:
            await _drain(receive, self.body_timeout_s)
            await _error(send, 413, "payload_too_large", "request body too large")
            return
        except TimeoutError:
            await _error(send, 408, "request_timeout", "the request body stopped arriving")
            return
        except _Gone:
            return
        environ = _environ(scope, body)
        loop = asyncio.get_running_loop()
        try:
            started = await loop.run_in_executor(self.pool, _start, self.app, environ)
        except Exception:
            log.exception("the application failed outside its error handlers")
            await _error(send, 500, "internal_error", "the service failed to handle this request")
            return
        status, headers, body_iter = started
        if isinstance(body_iter, bytes):  # read whole on its thread: sent from here at once
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body_iter, "more_body": False})
            return
        stream = environ.get("agents.event_stream")
        if stream is not None:
            frames = stream.__aiter__()  # served here: the WSGI body's close leaves it open
            await loop.run_in_executor(self.pool, _close, body_iter)
            await _serve_stream(stream, frames, status, headers, receive, send)
            return
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await loop.run_in_executor(self.pool, _send_body, body_iter, send, loop)


class _TooLarge(Exception):
    pass


class _Gone(Exception):
    """The client went away before its body arrived."""


def _head_refused(scope: Scope) -> tuple[int, str, str] | None:
    target = len(scope.get("raw_path") or scope["path"].encode()) + len(scope["query_string"])
    if target + len(scope["method"]) + 11 > MAX_REQUEST_LINE:
        return 414, "uri_too_long", "Request-URI Too Long: the request line is over its limit"
    headers = scope["headers"]
    if len(headers) > MAX_HEADERS or any(
        len(name) + len(value) + 2 > MAX_HEADER_BYTES for name, value in headers
    ):
        return 431, "headers_too_large", "Request Header Fields Too Large"
    return None


async def _read_body(scope: Scope, receive: Receive, limit: int, timeout_s: float) -> bytes:
    declared = _header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        async with asyncio.timeout(timeout_s):
            message = await receive()
        if message["type"] == "http.disconnect":
            raise _Gone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _drain(receive: Receive, timeout_s: float) -> None:
    """Read what is left of a refused body (bounded), so the client hears the answer instead
    of a reset from a socket closed with unread data."""
    read = 0
    with contextlib.suppress(TimeoutError):
        while read < DRAIN_LIMIT:
            async with asyncio.timeout(timeout_s):
                message = await receive()
            if message["type"] == "http.disconnect":
                return
            read += len(message.get("body", b""))
            if not message.get("more_body", False):
                return


async def _error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "details": []}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-content-type-options", b"nosniff"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _environ(scope: Scope, body: bytes) -> dict[str, Any]:
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    path = scope.get("root_path", "") + scope["path"]
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_LENGTH" or name == "TRANSFER_ENCODING":
            continue  # the body is read whole: its length is what it is
        key = "CONTENT_TYPE" if name == "CONTENT_TYPE" else f"HTTP_{name}"
        if key in environ:
            environ[key] += ("; " if key == "HTTP_COOKIE" else ", ") + value
        else:
            environ[key] = value
    return environ


def _start(app: WsgiApp, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], Any]:
    """Run the app up to its response head (on a request thread)."""
    head: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        head[:] = [status, headers]
        return lambda data: None  # the legacy write(): nothing here uses it

    body_iter = app(environ, start_response)
    if not head:  # a WSGI app starts its response by its first chunk at the latest
        first = next(iter(body_iter), b"")
        body_iter = _chain(first, body_iter)
    status, headers = head
    encoded = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    length = next((value for name, value in encoded if name == b"content-length"), None)
    if length is not None and length.isdigit() and int(length) <= WHOLE_BODY_BYTES:
        # a body of a known, small size (a JSON answer) is read here, on the request thread:
        # the loop then sends it without coming back to this thread for each chunk
        try:
            whole = b"".join(body_iter)
        finally:
            _close(body_iter)
        return int(status.split(" ", 1)[0]), encoded, whole
    return int(status.split(" ", 1)[0]), encoded, body_iter


def _chain(first: bytes, rest: Iterable[bytes]) -> Iterable[bytes]:
    yield first
    yield from rest


def _close(body_iter: Any) -> None:
    close = getattr(body_iter, "close", None)
    if close is not None:
        close()


def _send_body(body_iter: Any, send: Send, loop: asyncio.AbstractEventLoop) -> None:
    """Send a WSGI body from its request thread, a chunk at a time (the loop sends)."""

    async def sending(message: dict[str, Any]) -> None:
        await send(message)

    try:
        for chunk in body_iter:
            if chunk:
                message = {"type": "http.response.body", "body": bytes(chunk), "more_body": True}
                asyncio.run_coroutine_threadsafe(sending(message), loop).result()
        done = {"type": "http.response.body", "body": b"", "more_body": False}
        asyncio.run_coroutine_threadsafe(sending(done), loop).result()
    finally:
        _close(body_iter)


async def _serve_stream(
    stream: Any,
    frames: Any,
    status: int,
    headers: list[tuple[bytes, bytes]],
    receive: Receive,
    send: Send,
) -> None:
    """Relay an event stream until it ends or the client hangs up (then it is cancelled)."""
    await send({"type": "http.response.start", "status": status, "headers": headers})

    async def pump() -> None:
        async for text in frames:
            await send({"type": "http.response.body", "body": text.encode(), "more_body": True})

    async def hung_up() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    pumping, watching = asyncio.create_task(pump()), asyncio.create_task(hung_up())
    try:
        await asyncio.wait({pumping, watching}, return_when=asyncio.FIRST_COMPLETED)
        for task in (pumping, watching):
            task.cancel()  # no-op for the one that is done
        pumped, _ = await asyncio.gather(pumping, watching, return_exceptions=True)
        if isinstance(pumped, Exception):
            log.error("an event stream failed", exc_info=pumped)
        with contextlib.suppress(Exception):  # the client may be gone
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        await stream.aclose()
