"""Cloud Tasks' behaviour in-process, for `make dev` and tests: a few daemon threads POST each
task's JSON to the worker route with the shared secret and retry like Cloud Tasks would."""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.errors import Unavailable
from core.tasks.auth import SHARED_SECRET_HEADER
from core.tasks.task import RETRY_COUNT_HEADER, TASK_NAME_HEADER, Task

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("core.tasks")


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    task: Task = field(compare=False)
    attempt: int = field(default=1, compare=False)


class LocalDispatcher:
    """Cloud Tasks' behaviour in-process, for `make dev` and tests: POST the task's JSON to
    base_url + path with the shared secret, retry 408, 429, every 5xx and connection errors
    with exponential backoff (or the worker's Retry-After), give up after `max_attempts`. The
    queue lives in memory: what a killed process held is found again by the sweeper
    (core.services.worker.sweep), which `make dev` runs at start and every SWEEP_INTERVAL_S.

    `enqueue` only records the task and wakes a worker thread, so it never blocks the request
    that enqueues. Workers are daemon threads started on the first enqueue (after any fork) so
    an interrupted server exits at once. Names already seen are dropped, like Cloud Tasks does
    (the emulator does not)."""

    # what Cloud Tasks retries: anything but 2xx; only a refusal (4xx) is final here
    RETRY_STATUSES = frozenset({408, 429, *range(500, 600)})

    def __init__(
        self,
        base_url: str,
        secret: str,
        *,
        max_workers: int = 4,
        max_attempts: int = 10,
        backoff_s: float = 0.25,
        max_backoff_s: float = 30.0,
        timeout_s: float = 660.0,
        max_pending: int = 10_000,
        remembered_names: int = 100_000,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        self._max_workers = max_workers
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._timeout_s = timeout_s
        self._max_pending = max_pending
        self._remembered_names = remembered_names
        self._cond = threading.Condition()
        self._due: list[_Delivery] = []
        self._seq = itertools.count()
        self._names: OrderedDict[str, None] = OrderedDict()
        self._outstanding = 0  # enqueued and not yet finished (delivered or given up)
        self._threads: list[threading.Thread] = []
        self._client: httpx.Client | None = None
        self._closed = False

    def enqueue(self, task: Task) -> None:
        with self._cond:
            if self._closed:
                raise Unavailable("the local task dispatcher is closed")
            if task.name in self._names:
                log.debug("task %s already enqueued", task.name)
                return
            if self._outstanding >= self._max_pending:
                raise Unavailable("the local task dispatcher is full, try again")
            self._names[task.name] = None
            while len(self._names) > self._remembered_names:
                self._names.popitem(last=False)
            self._outstanding += 1
            self._schedule(_Delivery(time.monotonic() + task.delay_s, 0, task))
            if not self._threads:
                self._start_workers()

    def wait_idle(self, timeout: float) -> bool:
        """True once every enqueued task was delivered or given up (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._outstanding:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def close(self) -> None:
        """Stop taking and dispatching tasks; a request in flight is abandoned."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _schedule(self, delivery: _Delivery) -> None:
        delivery.seq = next(self._seq)
        heapq.heappush(self._due, delivery)
        self._cond.notify()

    def _start_workers(self) -> None:
        for index in range(self._max_workers):
            thread = threading.Thread(target=self._work, name=f"tasks-local-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    wait: float | None = None
                    if self._due:
                        wait = self._due[0].due - time.monotonic()
                        if wait <= 0:
                            delivery = heapq.heappop(self._due)
                            break
                    self._cond.wait(wait)
            try:
                retry_in = self._attempt(delivery)
            except Exception:  # a bug here must not kill the worker thread
                log.exception("local dispatch of task %s failed", delivery.task.name)
                retry_in = None
            with self._cond:
                if retry_in is not None and not self._closed:
                    delivery.due = time.monotonic() + retry_in
                    delivery.attempt += 1
                    self._schedule(delivery)
                else:
                    self._outstanding -= 1
                    self._cond.notify_all()

    def _attempt(self, delivery: _Delivery) -> float | None:
        """POST once; the delay before the next attempt, or None when this one settled it."""
        import httpx

        task = delivery.task
        headers = {
            "Content-Type": "application/json",
            SHARED_SECRET_HEADER: self._secret,
            TASK_NAME_HEADER: task.name,
            RETRY_COUNT_HEADER: str(delivery.attempt - 1),
        }
        retry_after: float | None = None
        try:
            response = self._http().post(
                self.base_url + task.path, content=task.body, headers=headers
            )
        except httpx.TransportError as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        else:
            if response.is_success:
                return None
            outcome = f"HTTP {response.status_code}"
            if response.status_code not in self.RETRY_STATUSES:
                log.warning("task %s refused by the worker (%s); dropped", task.name, outcome)
                return None
            retry_after = _retry_after_s(response.headers.get("Retry-After"))
        if delivery.attempt >= self._max_attempts:
            log.warning(
                "task %s gave up after %d attempts (%s)", task.name, delivery.attempt, outcome
            )
            return None
        backoff = min(self._backoff_s * 2 ** (delivery.attempt - 1), self._max_backoff_s)
        delay = retry_after if retry_after is not None else backoff * random.uniform(0.8, 1.2)  # noqa: S311
        return min(delay, self._max_backoff_s)

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx

            with self._cond:
                if self._client is None:
                    self._client = httpx.Client(
                        timeout=httpx.Timeout(self._timeout_s, connect=5.0),
                        limits=httpx.Limits(max_connections=self._max_workers),
                        trust_env=False,  # never through a proxy: the worker is local
                    )
        return self._client


def _retry_after_s(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is not used by our worker)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
