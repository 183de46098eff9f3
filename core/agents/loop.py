"""Where agent runs execute: an asyncio event loop per worker thread, kept for the thread's life.

Request handlers are synchronous (Flask under gunicorn threads); pydantic-ai and the provider
clients are asynchronous, and a client's HTTP connections belong to the loop that opened them.
Each thread therefore runs its agents on its own long-lived loop (and keeps its own provider
clients, see core.agents.providers): no hop to another thread, so a busy process does not
funnel every run through one thread that competes for the GIL with all the others.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _ThreadLoop:
    """Owns a thread's loop; closed when the thread ends (its thread-local goes away)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __del__(self) -> None:
        if not self.loop.is_closed():
            self.loop.close()


_local = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    holder: _ThreadLoop | None = getattr(_local, "holder", None)
    if holder is None or holder.loop.is_closed():
        holder = _ThreadLoop()
        _local.holder = holder
    return holder.loop


def run_on_agent_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion on this thread's loop (the caller's context variables, the
    current trace span among them, are those of the thread). The run bounds its own time."""
    return _thread_loop().run_until_complete(coro)
