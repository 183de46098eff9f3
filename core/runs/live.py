"""A run streamed to its caller as it happens (`Accept: text/event-stream` on execute or a
session's message): the model's text as it is generated, the tool calls, their results and the
approvals asked for as they are committed, and last the finished execution, as SSE.

The run itself is the ordinary sync run, on a thread of a small pool rather than the request's
thread (which sends the stream); a caller who goes away does not stop it: it finishes and is
recorded, readable like any other."""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable, Iterator
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

log = logging.getLogger(__name__)

_DONE = object()


class LiveRun:
    """What the run's thread tells the request's thread, through a queue. `native`: pydantic-ai's
    stream events themselves (for a protocol adapter, core.services.ag_ui), else SSE frames."""

    def __init__(self, *, native: bool = False) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.native = native
        self.launched = False

    def on_event(self, event: Any) -> None:
        if self.native:
            self._queue.put(("native", event, None))
            return
        delta = text_delta(event)
        if delta:
            self._queue.put(("text_delta", {"delta": delta}, None))

    def events(self, numbered: list[tuple[int, EventType, dict[str, Any]]]) -> None:
        if self.native:  # the native stream has the calls and results
            return
        for seq, kind, payload in numbered:
            if kind in STREAMED:
                data = {"seq": seq, "type": kind.value, "payload": payload}
                self._queue.put((kind.value, data, seq))

    def launch(self, run: Callable[[], Any]) -> None:
        """Run `run` (the sync run; it returns the finished execution as JSON) on the pool."""
        self.launched = True

        def go() -> None:
            try:
                self._queue.put(("execution", run(), None))
            except DomainError as exc:  # the database went away: the run goes on later
                error = {"code": exc.code, "message": exc.message, **exc.extra}
                self._queue.put(("error", error, None))
            except Exception:  # the run is recorded (failed) whatever happens to its answer
                log.exception("a streamed run could not be answered")
                error = {"code": "internal_error", "message": "the run failed unexpectedly"}
                self._queue.put(("error", error, None))
            finally:
                self._queue.put(_DONE)

        _pool().submit(go)

    def items(self) -> Iterator[tuple[str, Any, int | None] | None]:
        """What the run tells, as (kind, data, seq), until it is done; None after each
        KEEPALIVE_S of silence."""
        while True:
            try:
                item = self._queue.get(timeout=KEEPALIVE_S)
            except queue.Empty:
                yield None
                continue
            if item is _DONE:
                return
            yield item

    def frames(self, answer: Callable[[], Any]) -> Iterator[str]:
        """The SSE frames until the run's execution; `answer` is the execution as JSON when
        nothing was launched here (an idempotency key's earlier run)."""
        yield "retry: 1000\n\n"
        if not self.launched:
            yield frame("execution", answer())
            return
        for item in self.items():
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
