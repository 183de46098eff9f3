"""Google Cloud Tasks HTTP targets: one task per `Task`, POSTed by Google to TASKS_WORKER_URL +
task.path with an OIDC token for TASKS_INVOKER_SA (audience TASKS_WORKER_URL). Task names make
enqueueing idempotent: ALREADY_EXISTS is success. With TASKS_EMULATOR_HOST the client talks to
gcloud-tasks-emulator over an insecure gRPC channel."""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import timedelta
from typing import Any

from core.clock import utcnow
from core.config import Settings
from core.errors import ConfigError, Unavailable
from core.tasks.auth import SHARED_SECRET_HEADER, tasks_shared_secret
from core.tasks.task import QUEUE_NAME, Task

log = logging.getLogger("core.tasks")


class CloudTasksQueue:
    """Google Cloud Tasks HTTP targets. The client is created on the first enqueue (it reads
    application default credentials) and reused; it is thread-safe."""

    def __init__(self, settings: Settings, *, client: Any | None = None) -> None:
        if not settings.tasks_queue or not QUEUE_NAME.fullmatch(settings.tasks_queue):
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
