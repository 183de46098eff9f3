"""Server-sent event streams over HTTP (a run as it happens, a log followed live), served apart
from the request threads.

A stream's frames come from an async iterator. Served by the ASGI front (core.http.asgi, what
`make dev` and every function run), they are awaited on its event loop: an open stream holds
no thread the API needs, so a thousand followers cost a thousand sockets, not a thousand
threads. Served by a WSGI server instead (Flask's test client), they are read on the request's
thread through a loop of the stream's own.

Each user may hold USER_MAX_STREAMS open streams per process; one more is a 429
`too_many_streams` before anything starts (no run is made for a refused stream)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

from flask import Response, g, has_request_context, request
from werkzeug.datastructures import Headers

from core.errors import LimitReached, field_error

ENVIRON_KEY = "agents.event_stream"  # where the ASGI front finds a response's stream


def wants_event_stream(headers: Headers) -> bool:
    return "text/event-stream" in headers.get("Accept", "")


class StreamSlots:
    """Open streams per user in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: Counter[uuid.UUID] = Counter()

    def take(self, user_id: uuid.UUID, limit: int) -> None:
        with self._lock:
            if self._open[user_id] >= limit:
                raise LimitReached(
                    f"you have {limit} streams open on this server: close one first",
                    code="too_many_streams",
                    details=[field_error(["header", "Accept"], "too many open streams", "streams")],
                    retry_after_s=5,
                )
            self._open[user_id] += 1

    def give_back(self, user_id: uuid.UUID) -> None:
        with self._lock:
            self._open[user_id] -= 1
            if self._open[user_id] <= 0:
                del self._open[user_id]

    def open_of(self, user_id: uuid.UUID) -> int:
        with self._lock:
            return self._open[user_id]


SLOTS = StreamSlots()


def take_stream_slot(user_id: uuid.UUID) -> None:
    """Count a stream this request is about to open (429 beyond USER_MAX_STREAMS). Taken
    before the work the stream reports starts; given back when the stream ends, or at the end
    of the request if no stream came of it."""
    from core.config import get_settings

    if getattr(g, "stream_slot", None) is not None:
        return
    SLOTS.take(user_id, get_settings().user_max_streams)
    g.stream_slot = user_id


def release_unused_slot(_exc: BaseException | None = None) -> None:
    """A request's teardown: a slot no stream took over goes back."""
    user_id = g.pop("stream_slot", None)
    if user_id is not None:
        SLOTS.give_back(user_id)


class EventStream:
    """An SSE body: `__aiter__` for the ASGI front, `__iter__` for a WSGI server. It holds the
    user's stream slot until it is closed (once)."""

    def __init__(self, frames: AsyncIterator[str], slot: uuid.UUID | None) -> None:
        self._frames = frames
        self._slot = slot
        self._closed = False
        self.served_async = False

    def __aiter__(self) -> AsyncIterator[str]:
        self.served_async = True
        return self._frames

    def __iter__(self) -> Iterator[str]:
        loop = asyncio.new_event_loop()
        context = contextvars.copy_context()  # every step in one context, as one task would

        async def step() -> str:
            return await anext(self._frames)

        try:
            while True:
                try:
                    yield loop.run_until_complete(loop.create_task(step(), context=context))
                except StopAsyncIteration:
                    return
        finally:
            loop.run_until_complete(loop.create_task(self.aclose(), context=context))
            loop.close()

    async def aclose(self) -> None:
        aclose = getattr(self._frames, "aclose", None)
        if aclose is not None:
            await aclose()
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._slot is not None:
                SLOTS.give_back(self._slot)


def event_stream(
    frames: AsyncIterator[str], *, user_id: uuid.UUID, headers: dict[str, str] | None = None
) -> Response:
    """The response of a stream route: `frames` as SSE, counted against the user's open
    streams (taken now unless this request took its slot already)."""
    take_stream_slot(user_id)
    slot = g.pop("stream_slot", None)
    stream = EventStream(frames, slot)
    response = Response(
        _lazy(stream),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})},
    )
    response.call_on_close(_closer(stream))
    if has_request_context():
        request.environ[ENVIRON_KEY] = stream
    return response


def _lazy(stream: EventStream) -> Iterator[str]:
    """Iterated only by a WSGI server (the ASGI front reads the stream itself)."""
    yield from stream


def _closer(stream: EventStream) -> Any:
    def close() -> None:
        if not stream.served_async:  # the ASGI front closes what it serves
            stream.close()

    return close
