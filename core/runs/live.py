"""A run streamed to its caller as it happens (`Accept: text/event-stream` on execute or a
session's message): the model's text as it is generated, the tool calls, their results and the
approvals asked for as they are committed, and last the finished execution, as SSE.

The run itself is the ordinary sync run, on a thread of a small pool; the stream relays what it
tells from an event loop (core.http.streams), where waiting costs no thread. A caller who goes
away does not stop the run: it finishes and is recorded, readable like any other."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from core.errors import DomainError
from core.lazy import Lazy
from core.models.sessions import EventType
from core.runs.following import KEEPALIVE_S, frame

# the events of the log a streamed run sends (the others are on the log, for followers)
STREAMED = {
    EventType.tool_call,
    EventType.tool_result,
    EventType.approval_requested,
}
POOL_THREADS = 32
# a streamed run holds a seat from before its row is written until its thread is done: one
# never waits for a thread (its lease and timeout would run meanwhile, and the run start twice)
_seats = threading.BoundedSemaphore(POOL_THREADS)
# the statuses a run handed to another delivery is not over in
_GOING = {"queued", "running"}

log = logging.getLogger(__name__)

_DONE = object()


class LiveRun:
    """What the run's thread tells the stream that relays it: items go into a buffer and wake
    the relay on its event loop (it waits there, holding no thread). `native`: pydantic-ai's
    stream events themselves (for a protocol adapter, core.services.ag_ui), else SSE frames."""

    def __init__(self, *, native: bool = False) -> None:
        self._items: deque[Any] = deque()
        self._lock = threading.Lock()
        self._waker: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self.native = native
        self.launched = False
        self.execution_id: uuid.UUID | None = None
        self._seated = False

    @contextlib.contextmanager
    def seat(self) -> Iterator[None]:
        """Hold one of the pool's threads for this run while it starts (503 `too_busy` when
        none is free); a run launched keeps it until its thread is done, else it goes back."""
        if not _seats.acquire(blocking=False):
            from core.errors import TooBusy

            raise TooBusy(
                f"this instance runs {POOL_THREADS} streamed runs already: retry shortly, "
                'or start the run with "mode": "async" and follow it'
            )
        self._seated = True
        try:
            yield
        finally:
            if not self.launched:
                self._give_back_seat()

    def _give_back_seat(self) -> None:
        if self._seated:
            self._seated = False
            _seats.release()

    def _put(self, item: Any) -> None:
        """From the run's thread."""
        with self._lock:
            self._items.append(item)
            waker = self._waker
        if waker is not None:
            loop, event = waker
            with contextlib.suppress(RuntimeError):  # the relay's loop is gone: nobody listens
                loop.call_soon_threadsafe(event.set)

    def on_event(self, event: Any) -> None:
        if self.native:
            self._put(("native", event, None))
            return
        delta = text_delta(event)
        if delta:
            self._put(("text_delta", {"delta": delta}, None))

    def events(self, numbered: list[tuple[int, EventType, dict[str, Any]]]) -> None:
        if self.native:  # the native stream has the calls and results
            return
        for seq, kind, payload in numbered:
            if kind in STREAMED:
                data = {"seq": seq, "type": kind.value, "payload": payload}
                self._put((kind.value, data, seq))

    def launch(self, execution_id: uuid.UUID, run: Callable[[], Any]) -> None:
        """Run `run` (the sync run of `execution_id`; it returns the finished execution as
        JSON) on the pool."""
        self.launched = True
        self.execution_id = execution_id

        def go() -> None:
            try:
                answer = run()
                if answer.get("status") in _GOING:  # another delivery took the run over
                    from core.errors import RunGoesOn

                    raise RunGoesOn(execution_id, "this instance lost the run's lease")
                self._put(("execution", answer, None))
            except DomainError as exc:  # the database went away: the run goes on later
                error = {"code": exc.code, "message": exc.message, **exc.extra}
                self._put(("error", error, None))
            except Exception:  # the run is recorded (failed) whatever happens to its answer
                log.exception("a streamed run could not be answered")
                error = {"code": "internal_error", "message": "the run failed unexpectedly"}
                self._put(("error", error, None))
            finally:
                self._give_back_seat()
                self._put(_DONE)

        _pool().submit(go)

    async def items(self) -> AsyncIterator[tuple[str, Any, int | None] | None]:
        """What the run tells, as (kind, data, seq), until it is done; None after each
        KEEPALIVE_S of silence."""
        event = asyncio.Event()
        with self._lock:
            self._waker = (asyncio.get_running_loop(), event)
        while True:
            event.clear()  # before taking: an item put meanwhile wakes the wait below
            with self._lock:
                taken = list(self._items)
                self._items.clear()
            for item in taken:
                if item is _DONE:
                    return
                yield item
            if taken:
                continue
            try:
                async with asyncio.timeout(KEEPALIVE_S):
                    await event.wait()
            except TimeoutError:
                yield None

    async def frames(self, answer: Callable[[], Any]) -> AsyncIterator[str]:
        """The SSE frames: first `execution_started` naming the run (a client cut off can find
        it without an idempotency key), then what it tells, until its `execution`. `answer` is
        the execution as JSON when nothing was launched here (an idempotency key's earlier
        run). No `retry:` hint: a reconnecting client would POST a second run."""
        if not self.launched:
            yield frame("execution", answer())
            return
        yield frame(
            "execution_started",
            {
                "id": str(self.execution_id),
                "status": "running",
                "location": f"/executions/{self.execution_id}",
            },
        )
        async for item in self.items():
            if item is None:
                yield ": keep-alive\n\n"
                continue
            kind, data, seq = item
            yield frame(kind, data, seq)


def text_delta(event: Any) -> str | None:
    """The text a pydantic-ai stream event adds, if any."""
    from pydantic_ai.messages import PartDeltaEvent, PartStartEvent, TextPart, TextPartDelta

    if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
        return event.part.content
    if isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
        return event.delta.content_delta
    return None


def _pool() -> ThreadPoolExecutor:
    return _executor.get()


_executor = Lazy(lambda: ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="live-run"))
