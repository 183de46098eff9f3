"""Traces of requests, SQL and agent runs; the execution's trace row; JSON logs; and a broken
exporter that must leave the service running, untraced."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

from core import telemetry
from core.config import get_settings, reset_settings
from core.models.executions import AgentExecution, ObservabilityTrace
from tests.support.agents import create_agent, execute
from tests.support.api import signed_up


@pytest.fixture
def spans(monkeypatch) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    monkeypatch.setenv("TRACE_EXPORTER", "console")
    monkeypatch.setattr(telemetry, "_exporter", lambda settings: exporter)
    reset_settings()
    telemetry.reset_telemetry()
    yield exporter
    telemetry.reset_telemetry()
    monkeypatch.delenv("TRACE_EXPORTER")
    reset_settings()


def flush() -> None:
    provider: Any = telemetry._state["provider"]
    provider.force_flush()


def test_an_execution_is_one_trace_from_request_to_model_call(client, db, spans):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    response = execute(client, headers, agent["id"])
    assert response.status_code == 200
    execution = response.get_json()
    flush()

    finished = spans.get_finished_spans()
    names = {span.name for span in finished}
    assert "POST /agents/<uuid:agent_id>/execute" in names
    assert "agent execution" in names
    assert any(name.startswith("invoke_agent") for name in names)
    assert any(name.startswith("chat ") for name in names)
    run_span = next(s for s in finished if s.name == "agent execution")
    trace_id = format(run_span.context.trace_id, "032x")
    assert execution["trace_id"] == trace_id
    request_span = next(s for s in finished if s.name.endswith("/execute"))
    assert run_span.parent is not None
    assert run_span.parent.span_id == request_span.context.span_id
    model_spans = [s for s in finished if s.name.startswith("chat ")]
    assert all(format(s.context.trace_id, "032x") == trace_id for s in model_spans)
    # content stays out of spans by default
    assert not any("hello" in json.dumps(dict(s.attributes or {})) for s in model_spans)

    row = db.scalar(
        select(ObservabilityTrace).where(
            ObservabilityTrace.execution_id == uuid.UUID(execution["id"])
        )
    )
    assert row is not None
    assert row.trace_id == trace_id
    assert any(entry["name"].startswith("chat ") for entry in row.spans)
    assert (
        row.total_tokens == execution["usage"]["input_tokens"] + execution["usage"]["output_tokens"]
    )


def test_sql_statements_become_spans_without_their_parameters(spans, database_url):
    engine = sa.create_engine(database_url)
    telemetry.instrument_engine(engine, get_settings())
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT :secret"), {"secret": "hunter2"})
    engine.dispose()
    flush()
    [span] = [s for s in spans.get_finished_spans() if s.name == "db SELECT"]
    assert span.attributes["db.statement"] == "SELECT %s"
    assert "hunter2" not in json.dumps(dict(span.attributes))


def test_untraced_executions_still_get_a_trace_id_and_a_trace_row(client, db):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    execution = execute(client, headers, agent["id"]).get_json()
    assert len(execution["trace_id"]) == 32
    row = db.scalar(
        select(ObservabilityTrace).where(
            ObservabilityTrace.execution_id == uuid.UUID(execution["id"])
        )
    )
    assert row is not None
    assert row.spans == []
    assert row.latency_ms >= 0
    assert db.get(AgentExecution, uuid.UUID(execution["id"])).trace_id == row.trace_id


def test_an_exporter_that_cannot_be_built_leaves_the_service_up_and_untraced(
    client, monkeypatch, caplog
):
    def broken(settings: Any) -> Any:
        raise RuntimeError("no credentials here")

    monkeypatch.setenv("TRACE_EXPORTER", "otlp")
    monkeypatch.setattr(telemetry, "_exporter", broken)
    reset_settings()
    telemetry.reset_telemetry()
    try:
        with caplog.at_level(logging.WARNING, logger="core.telemetry"):
            _, headers = signed_up(client)
            agent = create_agent(client, headers)
            response = execute(client, headers, agent["id"])
        assert response.status_code == 200
        assert response.get_json()["status"] == "succeeded"
        warnings = [r for r in caplog.records if "tracing disabled" in r.getMessage()]
        assert len(warnings) == 1
    finally:
        telemetry.reset_telemetry()
        monkeypatch.delenv("TRACE_EXPORTER")
        reset_settings()


def test_log_lines_are_json_with_cloud_logging_fields(spans):
    formatter = telemetry.CloudLoggingFormatter(project="my-project")
    settings = get_settings()
    with telemetry.span(settings, "work") as trace_id:
        record = logging.LogRecord("core.x", logging.ERROR, __file__, 1, "it %s", ("broke",), None)
        line = formatter.format(record)
    entry = json.loads(line)
    assert entry["severity"] == "ERROR"
    assert entry["message"] == "it broke"
    assert entry["logging.googleapis.com/trace"] == f"projects/my-project/traces/{trace_id}"
