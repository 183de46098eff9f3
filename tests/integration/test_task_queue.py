"""The task queue backends: Cloud Tasks (against gcloud-tasks-emulator, which really POSTs to a
local receiver), the local dispatcher, and the process-wide accessor."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.api_core import exceptions as api_exceptions

from core.config import Settings
from core.errors import ConfigError, Unavailable
from core.tasks.auth import tasks_shared_secret, verify_task_request
from core.tasks.cloud_tasks import CloudTasksQueue
from core.tasks.local_dispatcher import LocalDispatcher
from core.tasks.queue import (
    get_task_queue,
    reset_task_queue,
    set_local_worker_base_url,
)
from core.tasks.task import MAX_TASK_BYTES, Task
from tests.support.tasks_emulator import (
    ROOT,
    Receiver,
    Recorded,
    Reply,
    TasksEmulator,
    free_port,
    tasks_emulator,  # noqa: F401  (fixture)
)

SECRET_KEY = "q" * 48
INVOKER = "tasks-invoker@agents-prod.iam.gserviceaccount.com"


def execution_task(**overrides: Any) -> Task:
    execution_id = uuid.uuid4()
    fields: dict[str, Any] = {
        "path": f"/tasks/executions/{execution_id}",
        "name": f"exec-{execution_id}-1",
        "payload": {"execution_id": str(execution_id)},
    }
    return Task(**{**fields, **overrides})


def emulator_settings(emulator: TasksEmulator, worker_url: str, **extra: str) -> Settings:
    return Settings.from_environ(
        {
            "SECRET_KEY": SECRET_KEY,
            "TASKS_QUEUE": emulator.queue,
            "TASKS_EMULATOR_HOST": emulator.host,
            "TASKS_WORKER_URL": worker_url,
            **extra,
        }
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


# Task


def test_payload_over_100_kb_is_refused() -> None:
    with pytest.raises(ValueError, match="limit is 102400"):
        execution_task(payload={"blob": "x" * MAX_TASK_BYTES})


def test_payload_at_the_limit_is_accepted() -> None:
    overhead = len(json.dumps({"blob": ""}, separators=(",", ":")))
    task = execution_task(payload={"blob": "x" * (MAX_TASK_BYTES - overhead)})
    assert len(task.body) == MAX_TASK_BYTES


@pytest.mark.parametrize(
    "overrides",
    [
        {"name": "exec/1"},
        {"name": ""},
        {"name": "x" * 481},
        {"path": "tasks/executions/1"},
        {"path": "https://evil.example/x"},
        {"delay_s": -1},
    ],
)
def test_malformed_tasks_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        execution_task(**overrides)


def test_module_imports_no_client_library() -> None:
    code = (
        "import sys, core.tasks.queue, core.tasks.auth, core.tasks.cloud_tasks, "
        "core.tasks.local_dispatcher; "
        "print(sorted(m for m in ('google.cloud.tasks_v2', 'grpc', 'httpx', 'google.oauth2', "
        "'requests') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# CloudTasksQueue against the emulator


def test_cloud_tasks_delivers_the_json_payload_to_the_worker_route(
    tasks_emulator: TasksEmulator,  # noqa: F811
    receiver: Receiver,
) -> None:
    queue = CloudTasksQueue(emulator_settings(tasks_emulator, receiver.url))
    task = execution_task()
    queue.enqueue(task)
    (request,) = receiver.wait_for(1)
    assert request.method == "POST"
    assert request.path == task.path
    assert request.json() == task.payload
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-CloudTasks-TaskName"] == queue.task_id(task.name)
    assert request.headers["X-CloudTasks-TaskName"].endswith(task.name)


def test_emulator_deliveries_pass_the_local_worker_check(
    tasks_emulator: TasksEmulator,  # noqa: F811
    receiver: Receiver,
) -> None:
    """The emulator sends no OIDC token, so locally the task carries the shared secret."""
    settings = emulator_settings(tasks_emulator, receiver.url)
    CloudTasksQueue(settings).enqueue(execution_task())
    (request,) = receiver.wait_for(1)
    assert verify_task_request(request.headers, settings) == "local-dispatcher"


def test_production_tasks_carry_no_secret(
    tasks_emulator: TasksEmulator,  # noqa: F811
    receiver: Receiver,
) -> None:
    settings = emulator_settings(
        tasks_emulator, receiver.url, APP_ENV="production", TASKS_INVOKER_SA=INVOKER
    )
    CloudTasksQueue(settings).enqueue(execution_task())
    (request,) = receiver.wait_for(1)
    assert "X-Tasks-Secret" not in request.headers
    assert request.json()["execution_id"]


def test_enqueueing_the_same_name_twice_is_not_an_error(
    tasks_emulator: TasksEmulator,  # noqa: F811
    receiver: Receiver,
) -> None:
    """Cloud Tasks answers ALREADY_EXISTS; the emulator accepts the duplicate (and delivers it
    twice, which the worker's claim absorbs). Either way the caller sees success."""
    queue = CloudTasksQueue(emulator_settings(tasks_emulator, receiver.url))
    task = execution_task()
    queue.enqueue(task)
    queue.enqueue(task)
    assert {r.path for r in receiver.wait_for(1)} == {task.path}


def test_delayed_task_waits_for_its_schedule_time(
    tasks_emulator: TasksEmulator,  # noqa: F811
    receiver: Receiver,
) -> None:
    queue = CloudTasksQueue(emulator_settings(tasks_emulator, receiver.url))
    started = time.monotonic()
    queue.enqueue(execution_task(delay_s=0.6))
    receiver.wait_for(1)
    assert time.monotonic() - started >= 0.6


def test_client_is_created_on_first_enqueue_and_reused(
    tasks_emulator: TasksEmulator,  # noqa: F811
    receiver: Receiver,
) -> None:
    queue = CloudTasksQueue(emulator_settings(tasks_emulator, receiver.url))
    assert queue._client is None
    queue.enqueue(execution_task())
    client = queue._client
    queue.enqueue(execution_task())
    assert client is not None
    assert queue._client is client
    receiver.wait_for(2)


# CloudTasksQueue against a fake client: what real Cloud Tasks does that the emulator does not


class FakeTasksClient:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.requests: list[Any] = []

    def create_task(self, *, request: Any, retry: Any = None, timeout: float | None = None) -> Any:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        return request.task


PRODUCTION = Settings.from_environ(
    {
        "APP_ENV": "production",
        "SECRET_KEY": SECRET_KEY,
        "TASKS_QUEUE": "projects/agents-prod/locations/us-central1/queues/executions",
        "TASKS_WORKER_URL": "https://tasks-abc123-uc.a.run.app/",
        "TASKS_INVOKER_SA": INVOKER,
        "MAX_EXECUTION_TIMEOUT_S": "600",
    }
)


def test_already_exists_counts_as_success() -> None:
    client = FakeTasksClient(api_exceptions.AlreadyExists("task existed too recently"))
    CloudTasksQueue(PRODUCTION, client=client).enqueue(execution_task())
    assert len(client.requests) == 1


def test_other_queue_failures_are_unavailable() -> None:
    client = FakeTasksClient(api_exceptions.PermissionDenied("no cloudtasks.tasks.create"))
    with pytest.raises(Unavailable):
        CloudTasksQueue(PRODUCTION, client=client).enqueue(execution_task())


def test_production_task_is_an_oidc_http_task_to_the_worker() -> None:
    client = FakeTasksClient()
    queue = CloudTasksQueue(PRODUCTION, client=client)
    task = execution_task(delay_s=30)
    before = datetime.now(UTC)
    queue.enqueue(task)
    (request,) = client.requests
    sent = request.task
    assert request.parent == PRODUCTION.tasks_queue
    assert sent.name == f"{PRODUCTION.tasks_queue}/tasks/{queue.task_id(task.name)}"
    assert sent.http_request.url == "https://tasks-abc123-uc.a.run.app" + task.path
    assert sent.http_request.http_method.name == "POST"
    assert json.loads(sent.http_request.body) == task.payload
    assert dict(sent.http_request.headers) == {"Content-Type": "application/json"}
    assert sent.http_request.oidc_token.service_account_email == INVOKER
    assert sent.http_request.oidc_token.audience == PRODUCTION.tasks_worker_url
    assert sent.dispatch_deadline == timedelta(seconds=660)
    assert before + timedelta(seconds=29) < sent.schedule_time < before + timedelta(seconds=32)


def test_task_ids_start_with_a_hash_and_keep_the_name() -> None:
    queue = CloudTasksQueue(PRODUCTION, client=FakeTasksClient())
    first, second = queue.task_id("exec-a-1"), queue.task_id("exec-a-2")
    assert first.endswith("-exec-a-1")
    assert second.endswith("-exec-a-2")
    assert first[:8] != second[:8]
    assert queue.task_id("exec-a-1") == first


@pytest.mark.parametrize(
    "update",
    [
        {"tasks_queue": "agents"},
        {"tasks_worker_url": None},
        {"tasks_invoker_sa": None},
    ],
)
def test_incomplete_cloud_tasks_configuration_is_refused(update: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        CloudTasksQueue(PRODUCTION.model_copy(update=update))


# LocalDispatcher


def dispatcher(base_url: str, **options: Any) -> LocalDispatcher:
    return LocalDispatcher(base_url, "local-secret", **{"backoff_s": 0.01, **options})


def test_local_dispatcher_posts_json_with_the_shared_secret(receiver: Receiver) -> None:
    local = dispatcher(receiver.url)
    task = execution_task()
    local.enqueue(task)
    (request,) = receiver.wait_for(1)
    assert request.path == task.path
    assert request.json() == task.payload
    assert request.headers["X-Tasks-Secret"] == "local-secret"
    assert request.headers["X-Task-Name"] == task.name
    assert request.headers["Content-Type"] == "application/json"
    assert local.wait_idle(5)
    local.close()


def test_local_dispatcher_retries_a_503_honouring_retry_after() -> None:
    def busy_then_ok(request: Recorded) -> Reply:
        first = request.headers["X-Task-Retry-Count"] == "0"
        return (503, {"Retry-After": "0.3"}, b"busy") if first else (200, {}, b"ok")

    with Receiver(busy_then_ok) as server:
        local = dispatcher(server.url)
        local.enqueue(execution_task())
        assert local.wait_idle(5)
        first, second = server.wait_for(2)
        assert [first.headers["X-Task-Retry-Count"], second.headers["X-Task-Retry-Count"]] == [
            "0",
            "1",
        ]
        assert len(server.requests) == 2
        local.close()


def test_local_dispatcher_gives_up_after_max_attempts() -> None:
    with Receiver(lambda _r: (503, {}, b"")) as server:
        local = dispatcher(server.url, max_attempts=3)
        local.enqueue(execution_task())
        assert local.wait_idle(5)
        assert len(server.requests) == 3
        local.close()


def test_local_dispatcher_retries_a_worker_that_failed_with_500() -> None:
    """A worker that crashed mid-run answers 500: Cloud Tasks retries that, so must we."""

    def crash_then_ok(request: Recorded) -> Reply:
        first = request.headers["X-Task-Retry-Count"] == "0"
        return (500, {}, b"boom") if first else (200, {}, b"ok")

    with Receiver(crash_then_ok) as server:
        local = dispatcher(server.url, backoff_s=0.05)
        local.enqueue(execution_task())
        assert local.wait_idle(5)
        assert len(server.wait_for(2)) == 2
        local.close()


def test_local_dispatcher_does_not_retry_a_refusal() -> None:
    with Receiver(lambda _r: (401, {}, b"")) as server:
        local = dispatcher(server.url)
        local.enqueue(execution_task())
        assert local.wait_idle(5)
        assert len(server.requests) == 1
        local.close()


def test_local_dispatcher_retries_until_the_worker_comes_up() -> None:
    port = free_port()  # nothing listens there yet
    local = dispatcher(f"http://127.0.0.1:{port}", backoff_s=0.2, max_attempts=6)
    local.enqueue(execution_task())
    time.sleep(0.1)  # the first attempt is refused
    with Receiver(bind_port=port) as server:
        (request,) = server.wait_for(1)
        assert local.wait_idle(5)
    assert int(request.headers["X-Task-Retry-Count"]) >= 1
    local.close()


def test_local_dispatcher_drops_a_name_it_already_has(receiver: Receiver) -> None:
    local = dispatcher(receiver.url)
    task = execution_task()
    for _ in range(3):
        local.enqueue(task)
    other = execution_task()
    local.enqueue(other)
    assert local.wait_idle(5)
    assert sorted(r.path for r in receiver.requests) == sorted([task.path, other.path])
    local.close()


def test_local_enqueue_does_not_wait_for_the_worker() -> None:
    def slow(_request: Recorded) -> Reply:
        time.sleep(0.5)
        return 200, {}, b""

    with Receiver(slow) as server:
        local = dispatcher(server.url, max_workers=1)
        started = time.monotonic()
        for _ in range(5):
            local.enqueue(execution_task())
        assert time.monotonic() - started < 0.1
        local.close()


def test_local_dispatcher_honours_delay(receiver: Receiver) -> None:
    local = dispatcher(receiver.url)
    started = time.monotonic()
    local.enqueue(execution_task(delay_s=0.3))
    local.enqueue(execution_task())
    first, second = receiver.wait_for(2)
    assert time.monotonic() - started >= 0.3
    assert first.headers["X-Task-Name"] != second.headers["X-Task-Name"]
    local.close()


def test_closed_dispatcher_refuses_tasks(receiver: Receiver) -> None:
    local = dispatcher(receiver.url)
    local.close()
    with pytest.raises(Unavailable):
        local.enqueue(execution_task())


# get_task_queue


@pytest.fixture
def fresh_accessor() -> Iterator[None]:
    reset_task_queue()
    set_local_worker_base_url(None)
    yield
    set_local_worker_base_url(None)
    reset_task_queue()


LOCAL = Settings.from_environ({"SECRET_KEY": SECRET_KEY})


@pytest.mark.usefixtures("fresh_accessor")
def test_local_server_url_makes_a_local_dispatcher_with_the_derived_secret(
    receiver: Receiver,
) -> None:
    set_local_worker_base_url(receiver.url + "/")
    queue = get_task_queue(LOCAL)
    assert isinstance(queue, LocalDispatcher)
    assert get_task_queue(LOCAL) is queue
    queue.enqueue(execution_task())
    (request,) = receiver.wait_for(1)
    assert verify_task_request(request.headers, LOCAL) == "local-dispatcher"
    assert request.headers["X-Tasks-Secret"] == tasks_shared_secret(LOCAL)


@pytest.mark.usefixtures("fresh_accessor")
def test_a_new_local_server_url_replaces_the_dispatcher() -> None:
    set_local_worker_base_url("http://127.0.0.1:1")
    first = get_task_queue(LOCAL)
    set_local_worker_base_url("http://127.0.0.1:2")
    second = get_task_queue(LOCAL)
    assert isinstance(second, LocalDispatcher)
    assert second is not first
    assert second.base_url == "http://127.0.0.1:2"


@pytest.mark.usefixtures("fresh_accessor")
def test_without_a_queue_or_worker_url_there_is_no_backend() -> None:
    with pytest.raises(ConfigError):
        get_task_queue(LOCAL)


@pytest.mark.usefixtures("fresh_accessor")
def test_tasks_queue_setting_selects_cloud_tasks_lazily() -> None:
    queue = get_task_queue(PRODUCTION)
    assert isinstance(queue, CloudTasksQueue)
    assert queue._client is None


def test_a_queue_given_to_the_backends_is_the_one_its_runs_use() -> None:
    """Tests give their queue to the app's Backends; the process's own is not built for it."""
    from core.runs.backends import Backends

    class Recording:
        def __init__(self) -> None:
            self.tasks: list[Task] = []

        def enqueue(self, task: Task) -> None:
            self.tasks.append(task)

    fake = Recording()
    Backends(PRODUCTION, queue=fake).queue.enqueue(execution_task())
    assert len(fake.tasks) == 1
