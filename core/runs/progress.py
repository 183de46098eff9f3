"""Recording a run as it goes: its progress at each step boundary (so a redelivered run resumes
from its last saved step and a tool whose result was saved never runs again), a transient
failure's release, and the terminal outcome with its events, trace row and written files."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.agents.usage import Usage
from core.models.executions import ExecutionStatus
from core.models.sessions import EventType
from core.runs.backends import Backends
from core.runs.events import EventLog, request_events, response_events
from core.runs.execution_rows import LeaseLost
from core.runs.leases import Fence
from core.runs.queueing import enqueue_webhook
from core.runs.store import RunStore
from core.storage.store import StorageFull, StoreError, StoreUnavailable

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse
    from pydantic_ai.usage import RunUsage

    from core.agents.runner import RunOutcome

log = logging.getLogger(__name__)


@dataclass
class DurableRecorder:
    """The run's observer: saves progress at each step boundary under the fence."""

    fence: Fence
    events: EventLog
    store: RunStore
    # what earlier attempts saved: the run's own message list starts after it
    resumed: list[ModelMessage] = field(default_factory=list)
    pending: list[tuple[EventType, dict[str, Any]]] = field(default_factory=list)
    cancel_seen: bool = False

    async def on_model_response(
        self, response: ModelResponse, usage: RunUsage, messages: list[ModelMessage]
    ) -> None:
        self.pending += response_events(response)
        if any(part.part_kind == "tool-call" for part in response.parts):
            await self._save(usage, messages)

    async def on_tool_results(
        self, request: ModelRequest, usage: RunUsage, messages: list[ModelMessage]
    ) -> None:
        self.pending += request_events(request)
        await self._save(usage, messages)

    async def heartbeat(self) -> None:
        await asyncio.to_thread(self._write, None, None)
        if self.cancel_seen:
            from core.agents.runner import RunStopped

            raise RunStopped()

    async def _save(self, usage: RunUsage, messages: list[ModelMessage]) -> None:
        await asyncio.to_thread(self._write, usage, messages)
        if self.cancel_seen:
            from core.agents.runner import RunStopped

            raise RunStopped()

    def _write(self, usage: RunUsage | None, messages: list[ModelMessage] | None) -> None:
        from pydantic_ai.messages import ModelMessagesTypeAdapter

        from core.agents.runner import RunAbandoned

        values: dict[str, Any] = {}
        if usage is not None and messages is not None:
            values = {
                "messages": ModelMessagesTypeAdapter.dump_python(
                    [*self.resumed, *messages], mode="json"
                ),
                **Usage.of_run(usage).columns(),
            }
        # a heartbeat only extends the lease: the events wait for the next step's save
        batch, self.pending = (self.pending, []) if values else ([], self.pending)
        try:
            if self.store.write(self.fence, self.events, batch, values):
                self.cancel_seen = True
        except LeaseLost:
            raise RunAbandoned(str(self.fence.execution_id)) from None


@dataclass(frozen=True)
class TraceInfo:
    trace_id: str
    started_at: datetime


def finish(
    backends: Backends,
    fence: Fence,
    events: EventLog,
    outcome: RunOutcome,
    *,
    webhook_url: str | None = None,
    trace: TraceInfo | None = None,
) -> None:
    """Record the terminal status (fenced), the last events, the trace row and the files the
    run wrote. Then hand a webhook, if any, to the task queue. A run whose files cannot be
    recorded (the storage is full, read-only or failing) ends failed, saying so."""
    from core.artifacts import written_paths

    written = written_paths(outcome.messages)
    try:
        _record_end(backends, fence, events, outcome, trace, written)
    except StoreError as exc:
        if not written or not isinstance(exc, StorageFull | StoreUnavailable):
            raise
        # its files could not be kept: the run fails saying why (its answer and events stay)
        log.warning("execution %s: its files could not be recorded: %s", fence.execution_id, exc)
        outcome.status = "failed"
        outcome.error = {
            "code": f"artifact_{exc.code}",
            "message": f"the files the run wrote could not be recorded as artifacts: {exc}",
        }
        _record_end(backends, fence, events, outcome, trace, [])
    if webhook_url:
        enqueue_webhook(backends, fence.execution_id)


def _record_end(
    backends: Backends,
    fence: Fence,
    events: EventLog,
    outcome: RunOutcome,
    trace: TraceInfo | None,
    written: list[str],
) -> None:
    from pydantic_ai.messages import ModelMessagesTypeAdapter

    batch = list(outcome.pending_events)
    if outcome.error is not None:
        batch.append((EventType.error, outcome.error))
    batch.append((EventType.status, {"status": outcome.status}))
    outcome.finished_at = backends.clock.now()
    if trace is not None:
        outcome.trace_id = trace.trace_id
    backends.store.finish(
        fence,
        events,
        batch,
        {
            "status": ExecutionStatus(outcome.status),
            "output": outcome.output,
            "error": outcome.error,
            "messages": ModelMessagesTypeAdapter.dump_python(outcome.messages, mode="json"),
            **outcome.usage.columns(),
            "finished_at": outcome.finished_at,
            **({"trace_id": trace.trace_id} if trace else {}),
        },
        trace=None if trace is None else _trace_row(trace, outcome),
        written=written,
    )


def _trace_row(trace: TraceInfo, outcome: RunOutcome) -> dict[str, Any]:
    """The execution's ObservabilityTrace row: its spans so far (when tracing is on), tokens,
    latency and error."""
    from core import telemetry

    assert outcome.finished_at is not None
    return {
        "id": uuid.uuid4(),
        "trace_id": trace.trace_id,
        "spans": telemetry.span_summary(trace.trace_id),
        "total_tokens": outcome.usage.total_tokens,
        "latency_ms": max(0, int((outcome.finished_at - trace.started_at).total_seconds() * 1000)),
        "error": (outcome.error or {}).get("message"),
    }


def release_for_retry(store: RunStore, fence: Fence, events: EventLog, outcome: RunOutcome) -> None:
    """A transient failure: keep the progress, free the lease so the retry can claim at once."""
    from pydantic_ai.messages import ModelMessagesTypeAdapter

    store.release_for_retry(
        fence,
        events,
        [
            *outcome.pending_events,
            (EventType.status, {"status": "retrying", **(outcome.error or {})}),
        ],
        {
            "messages": ModelMessagesTypeAdapter.dump_python(outcome.messages, mode="json"),
            **outcome.usage.columns(),
        },
    )
