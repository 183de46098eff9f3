"""One asyncio event loop per process, in its own thread, for every agent run.

Request handlers are synchronous (Flask under gunicorn threads); pydantic-ai and the provider
clients are asynchronous and their HTTP connection pools belong to the loop that created them.
Running every run on one long-lived loop lets those pools be reused across requests.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def _running_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="agent-loop", daemon=True)
            thread.start()
            _loop = loop
        return _loop


async def _in_context(coro: Coroutine[Any, Any, T], context: contextvars.Context) -> T:
    return await asyncio.get_running_loop().create_task(coro, context=context)


def run_on_agent_loop(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run `coro` on the shared loop and wait for its result from this (non-loop) thread. The
    caller's context variables (the current trace span among them) go with it."""
    future = asyncio.run_coroutine_threadsafe(
        _in_context(coro, contextvars.copy_context()), _running_loop()
    )
    try:
        return future.result(timeout)
    except TimeoutError:
        future.cancel()
        raise
