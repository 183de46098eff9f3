"""Cloud Function `tasks`: the Cloud Tasks worker (not public: only the queue's service account
may invoke it; locally the dispatcher's shared secret)."""

from __future__ import annotations

import uuid

from werkzeug.datastructures import Headers

from core.agents import AGENT_RUNTIME
from core.config import Settings
from core.http import Reply, RouteGroup
from core.http.app import function_entry
from core.runs.backends import Backends
from core.services import worker
from core.services.delivery import Delivery

routes = RouteGroup("tasks", description="the task worker (Cloud Tasks and Cloud Scheduler)")


def verify_task_request(headers: Headers, settings: Settings) -> None:
    from core.tasks.auth import verify_task_request as verify

    verify({name: value for name, value in headers.items()}, settings)


@routes.post(
    "/executions/<uuid:execution_id>",
    auth="none",
    response=dict,
    responses={
        401: "not the queue (no valid OIDC token or shared secret)",
        503: "busy, a transient failure or an unexpected one: retry later",
    },
    needs=AGENT_RUNTIME,
)
def run_execution(execution_id: uuid.UUID, headers: Headers, backends: Backends) -> Reply:
    """Run (or resume) one execution; duplicate deliveries are harmless."""
    verify_task_request(headers, backends.settings)
    return delivered(worker.deliver_execution(execution_id, backends))


@routes.post(
    "/ingest/<uuid:document_id>",
    auth="none",
    response=dict,
    responses={
        401: "not the queue (no valid OIDC token or shared secret)",
        503: "another delivery holds the document, or the embedding model failed: retry later",
    },
)
def ingest_document(document_id: uuid.UUID, headers: Headers, backends: Backends) -> Reply:
    """Read, chunk, embed and store one knowledge-base document; duplicate deliveries are
    harmless."""
    verify_task_request(headers, backends.settings)
    from core.services.knowledge_ingestion import deliver_ingestion

    return delivered(deliver_ingestion(document_id, backends))


@routes.post(
    "/memories/<uuid:execution_id>",
    auth="none",
    response=dict,
    responses={
        401: "not the queue (no valid OIDC token or shared secret)",
        503: "the model failed: retry later",
    },
    needs=AGENT_RUNTIME,
)
def extract_memories(execution_id: uuid.UUID, headers: Headers, backends: Backends) -> Reply:
    """Draw durable facts about its user from a finished session turn into their memories;
    duplicate deliveries are harmless."""
    verify_task_request(headers, backends.settings)
    from core.services.memory_extraction import deliver_extraction

    return delivered(deliver_extraction(execution_id, backends))


@routes.post(
    "/evals/<uuid:eval_id>",
    auth="none",
    response=dict,
    responses={
        401: "not the queue (no valid OIDC token or shared secret)",
        503: "the database or a judge model failed: retry later",
    },
    needs=(*AGENT_RUNTIME, "pydantic_evals.evaluators"),
)
def drive_eval(eval_id: uuid.UUID, headers: Headers, backends: Backends) -> Reply:
    """Score the eval's ended cases, start the next ones, sum it up once all are scored;
    duplicate deliveries are harmless."""
    verify_task_request(headers, backends.settings)
    from core.services.evals import deliver_eval

    return delivered(deliver_eval(eval_id, backends))


@routes.post(
    "/webhooks/<uuid:execution_id>",
    auth="none",
    response=dict,
    responses={
        401: "not the queue (no valid OIDC token or shared secret)",
        503: "the receiver failed transiently: retry later",
    },
)
def send_webhook(execution_id: uuid.UUID, headers: Headers, backends: Backends) -> Reply:
    """POST the finished execution, signed, to its webhook_url."""
    verify_task_request(headers, backends.settings)
    return delivered(worker.deliver_webhook(execution_id, backends))


@routes.post(
    "/sweep",
    auth="none",
    response=dict,
    responses={401: "not Cloud Scheduler (no valid OIDC token or shared secret)"},
)
def sweep(headers: Headers, backends: Backends) -> dict[str, int]:
    """Re-enqueue stuck executions and fail those out of attempts (Cloud Scheduler)."""
    verify_task_request(headers, backends.settings)
    return worker.sweep(backends)


def delivered(delivery: Delivery) -> Reply:
    """200 acknowledges the task; 503 with Retry-After makes the queue bring it back."""
    body: dict[str, object] = {"status": delivery.status}
    if delivery.error is not None:
        body["error"] = delivery.error
    if delivery.retry_after_s is None:
        return Reply(body, 200)
    body["retry_after_s"] = delivery.retry_after_s
    return Reply(body, 503, {"Retry-After": str(delivery.retry_after_s)})


entry = function_entry(lambda: routes)
