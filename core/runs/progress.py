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

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.config import Settings
from core.models.executions import AgentExecution, ExecutionStatus
from core.models.sessions import EventType
from core.runs.events import EventLog, request_events, response_events
from core.runs.execution_rows import LeaseLost
from core.runs.leases import Fence
from core.runs.queueing import enqueue_webhook
from core.runs.usage import Usage

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

    async def _save(self, usage: RunUsage, messages: list[ModelMessage]) -> None:
        await asyncio.to_thread(self._write, usage, messages)
        if self.cancel_seen:
            from core.agents.runner import RunStopped

            raise RunStopped()

    def _write(self, usage: RunUsage | None, messages: list[ModelMessage] | None) -> None:
        from pydantic_ai.messages import ModelMessagesTypeAdapter

        from core.agents.runner import RunAbandoned
        from core.db import core_transaction, then_commit

        values: dict[str, Any] = {}
        if usage is not None and messages is not None:
            values = {
                "messages": ModelMessagesTypeAdapter.dump_python(
                    [*self.resumed, *messages], mode="json"
                ),
                **Usage.of_run(usage).columns(),
            }
        batch, self.pending = (self.pending, []) if values else ([], self.pending)
        try:
            with core_transaction() as db:
                if self.fence.write(
                    db, events=self.events.rows(db, batch), commit=then_commit(), **values
                ):
                    self.cancel_seen = True
        except LeaseLost:
            raise RunAbandoned(str(self.fence.execution_id)) from None


@dataclass(frozen=True)
class TraceInfo:
    trace_id: str
    started_at: datetime


def finish(
    fence: Fence,
    events: EventLog,
    outcome: RunOutcome,
    settings: Settings,
    *,
    webhook_url: str | None = None,
    trace: TraceInfo | None = None,
) -> None:
    """Record the terminal status (fenced), the last events and, for a conversation turn that
    succeeded, the session's history. Then hand a webhook, if any, to the task queue."""
    from pydantic_ai.messages import ModelMessagesTypeAdapter

    from core.db import core_transaction, then_commit, transaction
    from core.services.artifacts import written_paths

    pending = list(outcome.pending_events)
    if outcome.error is not None:
        pending.append((EventType.error, outcome.error))
    pending.append((EventType.status, {"status": outcome.status}))
    messages = ModelMessagesTypeAdapter.dump_python(outcome.messages, mode="json")
    outcome.finished_at = utcnow()
    if trace is not None:
        outcome.trace_id = trace.trace_id
    written = written_paths(outcome.messages)
    # recording written files adds ORM objects; everything else is Core statements
    with transaction() if written else core_transaction() as db:
        fence.write(
            db,
            events=events.rows(db, pending),
            trace=None if trace is None else _trace_row(trace, outcome),
            commit=None if written else then_commit(),
            status=ExecutionStatus(outcome.status),
            output=outcome.output,
            error=outcome.error,
            messages=messages,
            **outcome.usage.columns(),
            finished_at=outcome.finished_at,
            **({"trace_id": trace.trace_id} if trace else {}),
        )
        if written:
            assert isinstance(db, Session)
            _record_written_files(db, fence.execution_id, events.session_id, written, settings)
    if webhook_url:
        enqueue_webhook(fence.execution_id, settings)


def _trace_row(trace: TraceInfo, outcome: RunOutcome) -> dict[str, Any]:
    """The execution's ObservabilityTrace row: its spans so far (when tracing is on), tokens,
    latency and error."""
    from core import telemetry

    finished = outcome.finished_at or utcnow()
    return {
        "id": uuid.uuid4(),
        "trace_id": trace.trace_id,
        "spans": telemetry.span_summary(trace.trace_id),
        "total_tokens": outcome.usage.total_tokens,
        "latency_ms": max(0, int((finished - trace.started_at).total_seconds() * 1000)),
        "error": (outcome.error or {}).get("message"),
    }


def _record_written_files(
    db: Session,
    execution_id: uuid.UUID,
    session_id: uuid.UUID | None,
    paths: list[str],
    settings: Settings,
) -> None:
    """Files the run wrote with file_write become artifacts of the execution (and session)."""
    from core.services.artifacts import record_workspace_files
    from core.storage import get_artifact_store
    from core.storage.workspace import workspace_for

    user_id = db.scalar(select(AgentExecution.user_id).where(AgentExecution.id == execution_id))
    assert user_id is not None
    record_workspace_files(
        db,
        store=get_artifact_store(settings),
        settings=settings,
        user_id=user_id,
        session_id=session_id,
        execution_id=execution_id,
        workspace=workspace_for(settings, session_id=session_id, execution_id=execution_id),
        paths=paths,
    )


def release_for_retry(fence: Fence, events: EventLog, outcome: RunOutcome) -> None:
    """A transient failure: keep the progress, free the lease so the retry can claim at once."""
    from pydantic_ai.messages import ModelMessagesTypeAdapter

    from core.db import transaction

    with transaction() as db:
        fence.write(
            db,
            events=events.rows(
                db,
                [
                    *outcome.pending_events,
                    (EventType.status, {"status": "retrying", **(outcome.error or {})}),
                ],
            ),
            messages=ModelMessagesTypeAdapter.dump_python(outcome.messages, mode="json"),
            **outcome.usage.columns(),
        )
        db.execute(
            update(AgentExecution)
            .where(AgentExecution.id == fence.execution_id, AgentExecution.attempt == fence.attempt)
            .values(lease_expires_at=utcnow())
        )
