"""The task queue: how a request hands work (an execution, a webhook delivery) to the worker.

Two backends behind one `TaskQueue` protocol:

- `CloudTasksQueue` (TASKS_QUEUE set): one Cloud Tasks HTTP task per `Task`, POSTed by Google to
  TASKS_WORKER_URL + task.path with an OIDC token for TASKS_INVOKER_SA (audience
  TASKS_WORKER_URL). Task names make enqueueing idempotent: ALREADY_EXISTS is success. With
  TASKS_EMULATOR_HOST the client talks to gcloud-tasks-emulator over an insecure gRPC channel.
- `LocalDispatcher` (otherwise; `make dev` and tests): a few daemon threads in this process POST
  the same JSON to the same worker route with the shared secret in `X-Tasks-Secret`, retrying
  503s and connection errors like Cloud Tasks would.

`get_task_queue(settings)` returns the process-wide backend, created on first use.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import logging
import os
import random
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from core.clock import utcnow
from core.config import Settings, get_settings
from core.errors import ConfigError, Unavailable
from core.tasks.auth import SHARED_SECRET_HEADER, tasks_shared_secret

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("core.tasks")

MAX_TASK_BYTES = 100 * 1024
TASK_NAME_HEADER = "X-Task-Name"
RETRY_COUNT_HEADER = "X-Task-Retry-Count"
# Cloud Tasks task ids: letters, digits, hyphens and underscores, at most 500 characters
_TASK_NAME = re.compile(r"[A-Za-z0-9_-]{1,480}")
_QUEUE_NAME = re.compile(r"projects/[^/]+/locations/[^/]+/queues/[^/]+")
_PATH = re.compile(r"/[A-Za-z0-9._~/-]*")


@dataclass(frozen=True, slots=True)
class Task:
    """One unit of work for the worker. `name` makes it idempotent: a second enqueue of the same
    name is dropped (by Cloud Tasks for about an hour after the first ran; by the local dispatcher
    for the life of the process). The payload carries ids only, never content."""

    path: str  # the worker route, e.g. /tasks/executions/<id>
    name: str  # deterministic, e.g. exec-<execution_id>-<attempt>
    payload: dict[str, Any]
    delay_s: float = 0
    body: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _PATH.fullmatch(self.path):
            raise ValueError(f"task path must be an absolute URL path, got {self.path!r}")
        if not _TASK_NAME.fullmatch(self.name):
            raise ValueError(
                "task name must be 1-480 letters, digits, '-' or '_' (a Cloud Tasks task id), "
                f"got {self.name!r}"
            )
        if not 0 <= self.delay_s <= 30 * 86_400:
            raise ValueError(f"task delay must be between 0 and 30 days, got {self.delay_s}")
        body = json.dumps(self.payload, separators=(",", ":"), sort_keys=True).encode()
        if len(body) > MAX_TASK_BYTES:
            raise ValueError(
                f"task payload is {len(body)} bytes encoded; the limit is {MAX_TASK_BYTES} "
                "(tasks carry ids, not content)"
            )
        object.__setattr__(self, "body", body)


class TaskQueue(Protocol):
    def enqueue(self, task: Task) -> None:
        """Hand the task over without waiting for it to run. Raises `Unavailable` when the
        queue cannot take it; a duplicate name is not an error."""
        ...


class CloudTasksQueue:
    """Google Cloud Tasks HTTP targets. The client is created on the first enqueue (it reads
    application default credentials) and reused; it is thread-safe."""

    def __init__(self, settings: Settings, *, client: Any | None = None) -> None:
        if not settings.tasks_queue or not _QUEUE_NAME.fullmatch(settings.tasks_queue):
            raise ConfigError(
                "TASKS_QUEUE must be projects/PROJECT/locations/LOCATION/queues/QUEUE, "
                f"got {settings.tasks_queue!r}"
            )
        if not settings.tasks_worker_url:
            raise ConfigError("TASKS_WORKER_URL (the tasks function's URL) is required")
        if not settings.tasks_invoker_sa and not settings.tasks_emulator_host:
            raise ConfigError(
                "TASKS_INVOKER_SA (the service account Cloud Tasks signs its OIDC token as) "
                "is required"
            )
        self.queue = settings.tasks_queue
        self.worker_url = settings.tasks_worker_url.rstrip("/")
        self.audience = settings.tasks_worker_url
        self.invoker = settings.tasks_invoker_sa
        self.emulator_host = settings.tasks_emulator_host
        # a worker run may take max_execution_timeout_s; Cloud Tasks allows 15 s to 30 min
        self.dispatch_deadline_s = min(max(settings.max_execution_timeout_s + 60, 15), 1800)
        # the emulator sends no OIDC token: in local mode the worker accepts the shared secret
        self._emulator_secret = (
            tasks_shared_secret(settings)
            if settings.tasks_emulator_host and settings.is_local
            else None
        )
        self._client = client
        self._lock = threading.Lock()

    def task_id(self, name: str) -> str:
        """Cloud Tasks looks names up for deduplication; ids sharing a prefix (exec-…) hot-spot
        that index, so the id starts with a hash of the name, as Google recommends."""
        return f"{hashlib.sha256(name.encode()).hexdigest()[:8]}-{name}"

    def enqueue(self, task: Task) -> None:
        from google.api_core import exceptions as api_exceptions
        from google.api_core.retry import Retry, if_exception_type
        from google.cloud import tasks_v2

        headers = {"Content-Type": "application/json"}
        if self._emulator_secret is not None:
            headers[SHARED_SECRET_HEADER] = self._emulator_secret
        http_request = tasks_v2.HttpRequest(
            url=self.worker_url + task.path,
            http_method=tasks_v2.HttpMethod.POST,
            headers=headers,
            body=task.body,
        )
        if self.invoker:
            http_request.oidc_token = tasks_v2.OidcToken(
                service_account_email=self.invoker, audience=self.audience
            )
        cloud_task = tasks_v2.Task(
            name=f"{self.queue}/tasks/{self.task_id(task.name)}",
            http_request=http_request,
            dispatch_deadline=timedelta(seconds=self.dispatch_deadline_s),
        )
        if task.delay_s > 0:
            cloud_task.schedule_time = utcnow() + timedelta(seconds=task.delay_s)
        # a named task makes CreateTask idempotent, so transient failures are safe to retry
        retry = Retry(
            predicate=if_exception_type(
                api_exceptions.ServiceUnavailable,
                api_exceptions.DeadlineExceeded,
                api_exceptions.InternalServerError,
            ),
            initial=0.1,
            maximum=2.0,
            timeout=20.0,
        )
        try:
            self._tasks_client().create_task(
                request=tasks_v2.CreateTaskRequest(parent=self.queue, task=cloud_task),
                retry=retry,
                timeout=10.0,
            )
        except api_exceptions.AlreadyExists:
            log.debug("task %s already exists", task.name)
        except (api_exceptions.GoogleAPICallError, api_exceptions.RetryError) as exc:
            raise Unavailable("the task queue is unavailable, try again") from exc

    def _tasks_client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = _create_client(self.emulator_host)
        return self._client


def _create_client(emulator_host: str | None) -> Any:
    from google.cloud import tasks_v2

    if emulator_host is None:
        return tasks_v2.CloudTasksClient()
    import grpc
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    channel = grpc.insecure_channel(emulator_host)
    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))


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


_lock = threading.Lock()
_queue: TaskQueue | None = None
_queue_pid: int | None = None
_override: TaskQueue | None = None
_local_base_url: str | None = None


def get_task_queue(settings: Settings | None = None) -> TaskQueue:
    """The process's queue: Cloud Tasks when TASKS_QUEUE is set, else a `LocalDispatcher`
    POSTing to the URL given to `set_local_worker_base_url` (falling back to
    TASKS_WORKER_URL). Created on first use, again after a fork."""
    global _queue, _queue_pid
    if _override is not None:
        return _override
    queue = _queue
    if queue is not None and _queue_pid == os.getpid():
        return queue
    settings = settings or get_settings()
    with _lock:
        if _queue is None or _queue_pid != os.getpid():
            _queue = _build_queue(settings)
            _queue_pid = os.getpid()
        return _queue


def _build_queue(settings: Settings) -> TaskQueue:
    if settings.tasks_queue:
        return CloudTasksQueue(settings)
    base_url = _local_base_url or settings.tasks_worker_url
    if not base_url:
        raise ConfigError(
            "no task queue: set TASKS_QUEUE for Cloud Tasks, or TASKS_WORKER_URL for the local "
            "dispatcher (the local server sets its own URL at start)"
        )
    return LocalDispatcher(
        base_url,
        tasks_shared_secret(settings),
        timeout_s=settings.max_execution_timeout_s + 60,
    )


def set_local_worker_base_url(url: str | None) -> None:
    """Where the local dispatcher POSTs (the local server calls this at start with its own
    http://127.0.0.1:PORT). A local dispatcher already built for another URL is replaced."""
    global _local_base_url, _queue
    with _lock:
        _local_base_url = url.rstrip("/") if url else None
        if isinstance(_queue, LocalDispatcher) and _queue.base_url != _local_base_url:
            _queue.close()
            _queue = None


def use_task_queue(queue: TaskQueue | None) -> None:
    """Make `get_task_queue` return this queue (tests swap in a recording fake); None restores
    the configured backend."""
    global _override
    _override = queue


def reset_task_queue() -> None:
    """Forget the configured backend (tests change settings between cases)."""
    global _queue
    with _lock:
        if isinstance(_queue, LocalDispatcher):
            _queue.close()
        _queue = None
