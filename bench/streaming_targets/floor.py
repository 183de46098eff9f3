"""The floor of bench/streaming.py: a bare functions-framework/Flask handler that streams the
same Gemini model (the local fake Vertex) through pydantic-ai on one long-lived event loop,
each text delta written as it arrives, persisting nothing."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import threading
from collections.abc import Iterator

import flask
from pydantic_ai import Agent
from pydantic_ai.models.google import GoogleModel
from pydantic_ai.providers.google_cloud import GoogleCloudProvider

from tests.support.fake_vertex import fake_credentials

agent = Agent(
    GoogleModel(
        "gemini-2.5-flash",
        provider=GoogleCloudProvider(
            project="proj",
            location="us-central1",
            base_url=os.environ["VERTEX_BASE_URL"],
            credentials=fake_credentials(),
        ),
    ),
    system_prompt="be brief",
)


_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def loop() -> asyncio.AbstractEventLoop:
    """One event loop for the process, kept running: the model's HTTP client lives on it."""
    global _loop
    with _lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, daemon=True).start()
    return _loop


async def relay(prompt: str, deltas: queue.SimpleQueue[str | None]) -> None:
    try:
        async with agent.run_stream(prompt) as run:
            async for delta in run.stream_text(delta=True, debounce_by=None):
                deltas.put(delta)
    finally:
        deltas.put(None)


def floor(request: flask.Request) -> flask.Response:
    prompt = str((request.get_json(silent=True) or {}).get("input", ""))
    deltas: queue.SimpleQueue[str | None] = queue.SimpleQueue()
    asyncio.run_coroutine_threadsafe(relay(prompt, deltas), loop())

    def frames() -> Iterator[str]:
        while (delta := deltas.get()) is not None:
            yield f"event: text_delta\ndata: {json.dumps({'delta': delta})}\n\n"

    return flask.Response(frames(), mimetype="text/event-stream")
