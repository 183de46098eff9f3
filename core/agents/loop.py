"""Where agent runs execute: an asyncio event loop per worker thread, kept for the thread's life.

Request handlers are synchronous (Flask under gunicorn threads); pydantic-ai and the provider
clients are asynchronous, and a client's HTTP connections belong to the loop that opened them.
Each thread therefore runs its agents on its own long-lived loop (and keeps its own provider
clients, see core.agents.providers): no hop to another thread, so a busy process does not
funnel every run through one thread that competes for the GIL with all the others.
"""

from __future__ import annotations

import asyncio
import selectors
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _FewerPolls(selectors.DefaultSelector):
    """asyncio polls for I/O at every turn of its loop, with a zero timeout while callbacks are
    ready: 27 polls for one short run, each a system call that lets go of the GIL, which one of
    the process's other request threads then takes (under load a thread waits for it back at
    every poll). With callbacks ready, this polls at most every `EVERY` turns; a turn with
    nothing ready polls (and waits) as usual, so I/O is never more than that many turns late.
    In bench/execute.py, alternating runs: 0.66-0.67x the floor polling always, 0.66-0.73x
    (0.70 on average of four) with this."""

    EVERY = 8

    def __init__(self) -> None:
        super().__init__()
        self._skipped = 0

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        if timeout == 0 and self._skipped < self.EVERY:
            self._skipped += 1
            return []
        self._skipped = 0
        ready: list[tuple[Any, int]] = super().select(timeout)
        return ready


class _ThreadLoop:
    """Owns a thread's loop; closed when the thread ends (its thread-local goes away)."""

    def __init__(self) -> None:
        self.loop = asyncio.SelectorEventLoop(_FewerPolls())

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
