"""Server-sent event streams over HTTP (a run as it happens, a log followed live)."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Response
from werkzeug.datastructures import Headers


def wants_event_stream(headers: Headers) -> bool:
    return "text/event-stream" in headers.get("Accept", "")


def event_stream(frames: Iterator[str]) -> Response:
    return Response(
        frames,
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
