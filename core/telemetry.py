"""OpenTelemetry traces (HTTP requests, SQL, pydantic-ai runs) and JSON logs for Cloud Logging.

Nothing is imported or built until tracing is asked for (TRACE_EXPORTER other than `none`), so
a function without tracing pays no cold-start cost. Spans leave through a BatchSpanProcessor
only (a synchronous export blocked a request for 115 s here when the collector was unreachable);
an exporter that cannot be built leaves the service untraced with one warning, never down.
Prompts and outputs stay out of spans unless TRACE_INCLUDE_CONTENT is set.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

GOOGLE_TELEMETRY_ENDPOINT = "https://telemetry.googleapis.com"
MAX_TRACES_KEPT = 500
MAX_SPANS_PER_TRACE = 200

_state: dict[str, Any] = {}
_lock = threading.Lock()


def tracer(settings: Settings) -> Any | None:
    """The service's tracer, or None when tracing is off or could not be set up."""
    if settings.trace_exporter == "none":
        return None
    with _lock:
        if "tracer" not in _state:
            _state["tracer"] = _build(settings)
        return _state["tracer"]


def _build(settings: Settings) -> Any | None:
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        exporter = _exporter(settings)
        provider = TracerProvider(
            resource=Resource.create(
                {"service.name": "agents-service", "service.version": settings.service_version}
            )
        )
        provider.add_span_processor(BatchSpanProcessor(exporter))
        from opentelemetry.sdk.trace import SpanProcessor

        # the SDK's processor base, created here so importing this module stays free of OTel
        summaries = type("Summaries", (SpanSummaries, SpanProcessor), {})()
        provider.add_span_processor(summaries)
        _state["summaries"] = summaries
        _state["provider"] = provider
        from pydantic_ai import Agent, InstrumentationSettings

        Agent.instrument_all(
            InstrumentationSettings(
                tracer_provider=provider,
                include_content=settings.trace_include_content,
                include_binary_content=False,
            )
        )
        return trace.get_tracer("agents-service", tracer_provider=provider)
    except Exception as exc:  # a broken exporter must never take the service down
        log.warning(
            "tracing disabled: the %s exporter could not be set up (%s)",
            settings.trace_exporter,
            exc,
        )
        return None


def _exporter(settings: Settings) -> Any:
    if settings.trace_exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if settings.trace_exporter == "gcp-trace":  # deprecated by Google; kept as an option
        from opentelemetry.exporter.cloud_trace import CloudTraceSpanExporter

        return CloudTraceSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    session = None
    if settings.otlp_endpoint.startswith(GOOGLE_TELEMETRY_ENDPOINT):
        import google.auth
        from google.auth.transport.requests import AuthorizedSession

        credentials, _ = google.auth.default(
            scopes=["https://www.googleapis.com/auth/trace.append"]
        )
        session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
    return OTLPSpanExporter(
        endpoint=settings.otlp_endpoint.rstrip("/") + "/v1/traces", session=session
    )


class SpanSummaries:
    """A span processor keeping, per trace, a short summary of its finished spans (name,
    duration, status) for the execution's ObservabilityTrace row. Bounded in memory."""

    def __init__(self) -> None:
        self._traces: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def on_end(self, span: Any) -> None:
        trace_id = format(span.context.trace_id, "032x")
        entry = {
            "name": span.name,
            "duration_ms": round((span.end_time - span.start_time) / 1e6, 3),
            "status": span.status.status_code.name.lower(),
        }
        with self._lock:
            spans = self._traces.setdefault(trace_id, [])
            self._traces.move_to_end(trace_id)
            if len(spans) < MAX_SPANS_PER_TRACE:
                spans.append(entry)
            while len(self._traces) > MAX_TRACES_KEPT:
                self._traces.popitem(last=False)

    def take(self, trace_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._traces.get(trace_id, []))

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def span_summary(trace_id: str | None) -> list[dict[str, Any]]:
    summaries: SpanSummaries | None = _state.get("summaries")
    return summaries.take(trace_id) if summaries and trace_id else []


@contextmanager
def span(settings: Settings, name: str, **attributes: Any) -> Iterator[str]:
    """A span around a piece of work; yields the current trace id (a random one when tracing
    is off, so executions and logs still correlate)."""
    active = tracer(settings)
    if active is None:
        yield current_trace_id() or secrets.token_hex(16)
        return
    with active.start_as_current_span(
        name, attributes={k: str(v) for k, v in attributes.items() if v is not None}
    ) as current:
        yield format(current.get_span_context().trace_id, "032x")


@contextmanager
def request_span(settings: Settings, name: str, headers: Mapping[str, str]) -> Iterator[None]:
    """The server span of one HTTP request, continuing a caller's W3C traceparent."""
    active = tracer(settings)
    if active is None:
        yield
        return
    from opentelemetry import context, propagate
    from opentelemetry.trace import SpanKind

    token = context.attach(propagate.extract(dict(headers)))
    try:
        with active.start_as_current_span(name, kind=SpanKind.SERVER):
            yield
    finally:
        context.detach(token)


def current_trace_id() -> str | None:
    if "provider" not in _state:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def instrument_engine(engine: Engine, settings: Settings) -> None:
    """A span per SQL statement (statement text only, never parameters)."""
    active = tracer(settings)
    if active is None:
        return
    from opentelemetry.trace import SpanKind
    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def _start(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        operation = statement.split(None, 1)[0].upper() if statement else "SQL"
        ctx._otel_span = active.start_span(
            f"db {operation}",
            kind=SpanKind.CLIENT,
            attributes={"db.system": "postgresql", "db.statement": statement[:2000]},
        )

    @event.listens_for(engine, "after_cursor_execute")
    def _end(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        current = getattr(ctx, "_otel_span", None)
        if current is not None:
            current.end()

    @event.listens_for(engine, "handle_error")
    def _failed(exception_context: Any) -> None:
        current = getattr(exception_context.execution_context, "_otel_span", None)
        if current is not None:
            current.end()


def shutdown() -> None:
    provider = _state.get("provider")
    if provider is not None:
        provider.shutdown()


# -- logs --------------------------------------------------------------------------------------


class CloudLoggingFormatter(logging.Formatter):
    """One JSON object per line with the fields Cloud Logging reads (severity, message, time,
    and the trace the line belongs to)."""

    def __init__(self, project: str | None) -> None:
        super().__init__()
        self.project = project

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        trace_id = current_trace_id()
        if trace_id and self.project:
            entry["logging.googleapis.com/trace"] = f"projects/{self.project}/traces/{trace_id}"
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_json_logging(settings: Settings) -> None:
    """Route the root logger to stderr as JSON lines (once per process)."""
    with _lock:
        if _state.get("logging"):
            return
        _state["logging"] = True
    handler = logging.StreamHandler()
    handler.setFormatter(CloudLoggingFormatter(settings.trace_project or settings.vertex_project))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)


def reset_telemetry() -> None:
    """Forget the tracer (tests switch exporters); undoes the pydantic-ai instrumentation."""
    with _lock:
        provider = _state.pop("provider", None)
        _state.pop("tracer", None)
        _state.pop("summaries", None)
    if provider is not None:
        provider.shutdown()
        from pydantic_ai import Agent

        Agent.instrument_all(False)
