"""Fakes of the run engine's own boundaries (core.runs.store.RunStore, the clock) for its unit
tests: runs kept in memory under the same rules the SQL store keeps them by (a claim bumps the
attempt, every write is fenced by it, a cancel is noticed at the next write)."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from core.agents.usage import Usage
from core.definition import AgentDefinition
from core.models.executions import (
    AgentExecution,
    ExecutionMode,
    ExecutionStatus,
    ToolCallState,
    WorkflowType,
)
from core.models.sessions import EventType
from core.runs.events import EventLog
from core.runs.execution_rows import CheckedStart, LeaseLost
from core.runs.leases import ClaimResult, Fence
from core.runs.store import EventBatch, Recorded, RunInputs
from core.runs.tool_call_rows import ToolCallRow


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


@dataclass
class Run:
    id: uuid.UUID
    agent_id: uuid.UUID
    version: str
    user_id: uuid.UUID
    input: Any
    mode: ExecutionMode = ExecutionMode.async_
    status: ExecutionStatus = ExecutionStatus.queued
    attempt: int = 0
    session_id: uuid.UUID | None = None
    parent_id: uuid.UUID | None = None
    step: tuple[int, int] | None = None  # (index, iteration) of a workflow's step
    webhook_url: str | None = None
    lease_expires_at: datetime | None = None
    cancel_requested_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    messages: list[Any] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    output: Any = None
    error: dict[str, Any] | None = None
    trace: dict[str, Any] | None = None
    written: list[str] = field(default_factory=list)
    events: list[tuple[int, EventType, dict[str, Any]]] = field(default_factory=list)
    pending_approvals: list[dict[str, Any]] | None = None
    approval_decisions: dict[str, Any] | None = None
    approval_expires_at: datetime | None = None
    tool_calls: dict[str, ToolCallRow] = field(default_factory=dict)

    def unowned(self, now: datetime) -> bool:
        return self.status == ExecutionStatus.queued or (
            self.status == ExecutionStatus.running
            and self.lease_expires_at is not None
            and self.lease_expires_at < now
        )

    def event_types(self) -> list[str]:
        return [kind.value for _, kind, _ in self.events]


class MemoryRunStore:
    """A RunStore in memory. `writes` counts fenced writes (progress, notes, the end)."""

    def __init__(self, clock: FakeClock, *, lease_s: int = 60, max_attempts: int = 5) -> None:
        self.clock = clock
        self.lease_s = lease_s
        self.max_attempts = max_attempts
        self.runs: dict[uuid.UUID, Run] = {}
        self.agents: dict[uuid.UUID, tuple[str, AgentDefinition, uuid.UUID]] = {}
        self.credentials: dict[uuid.UUID, dict[str, Any]] = {}
        self.sends: list[tuple[list[uuid.UUID], uuid.UUID, str, uuid.UUID]] = []
        self.writes = 0
        self.tool_call_writes = 0
        self._lock = threading.RLock()

    # -- arranging ------------------------------------------------------------------------------
    def add_agent(self, definition: dict[str, Any], *, owner: uuid.UUID) -> uuid.UUID:
        agent_id = uuid.uuid4()
        self.agents[agent_id] = ("1", AgentDefinition.model_validate(definition), owner)
        return agent_id

    def queue_run(self, agent_id: uuid.UUID, prompt: Any, **fields: Any) -> Run:
        """A run as an async start leaves it: queued, with its opening event."""
        version, _, owner = self.agents[agent_id]
        run = Run(uuid.uuid4(), agent_id, version, fields.pop("user_id", owner), prompt, **fields)
        run.events.append((1, EventType.user_message, {"content": prompt}))
        self.runs[run.id] = run
        return run

    # -- RunStore ---------------------------------------------------------------------------------
    def claim(self, execution_id: uuid.UUID) -> ClaimResult:
        now = self.clock.now()
        with self._lock:
            run = self.runs.get(execution_id)
            if run is None or run.status.is_terminal:
                return ClaimResult(done=True)
            if run.status == ExecutionStatus.waiting_approval:
                return ClaimResult(done=True)
            if not run.unowned(now):
                assert run.lease_expires_at is not None
                return ClaimResult(busy_for_s=int((run.lease_expires_at - now).total_seconds()) + 1)
            if run.cancel_requested_at is not None:
                self._end(run, ExecutionStatus.cancelled, {"code": "cancelled"})
                return ClaimResult(done=True)
            run.attempt += 1
            run.status = ExecutionStatus.running
            run.lease_expires_at = now + timedelta(seconds=self.lease_s)
            run.started_at = run.started_at or now
            if run.attempt > self.max_attempts:
                self._end(run, ExecutionStatus.failed, {"code": "too_many_attempts"})
                return ClaimResult(done=True)
            return ClaimResult(attempt=run.attempt)

    def release_lease(self, execution_id: uuid.UUID, attempt: int) -> None:
        with self._lock:
            run = self.runs[execution_id]
            if run.attempt == attempt and run.status == ExecutionStatus.running:
                run.lease_expires_at = self._ended()

    def load(self, execution_id: uuid.UUID) -> RunInputs:
        run = self.runs[execution_id]
        assert run.started_at is not None
        return RunInputs(
            definition=self.agents[run.agent_id][1],
            agent_version=(run.agent_id, run.version),
            session_history=[],
            raw_input=run.input,
            started_at=run.started_at,
            user_id=run.user_id,
            mode=run.mode,
            session_id=run.session_id,
            webhook_url=run.webhook_url,
            events=EventLog(execution_id=run.id, session_id=run.session_id),
            saved_messages=list(run.messages),
            usage=run.usage,
            approval_decisions=run.approval_decisions,
            parent_id=run.parent_id,
        )

    def write(
        self, fence: Fence, events: EventLog, batch: EventBatch, values: dict[str, Any]
    ) -> bool:
        with self._lock:
            run = self._fenced(fence)
            self._set(run, values)
            if "lease_expires_at" in values:  # given up: a run waiting for approvals
                run.lease_expires_at = values["lease_expires_at"]
            else:
                run.lease_expires_at = self.clock.now() + timedelta(seconds=fence.lease_s)
            self._add_events(run, batch)
            return run.cancel_requested_at is not None

    def finish(
        self,
        fence: Fence,
        events: EventLog,
        batch: EventBatch,
        values: dict[str, Any],
        *,
        trace: dict[str, Any] | None,
        written: list[str],
    ) -> None:
        with self._lock:
            self.write(fence, events, batch, values)
            run = self.runs[fence.execution_id]
            run.trace, run.written = trace, written

    def release_for_retry(
        self, fence: Fence, events: EventLog, batch: EventBatch, values: dict[str, Any]
    ) -> None:
        with self._lock:
            self.write(fence, events, batch, values)
            self.runs[fence.execution_id].lease_expires_at = self._ended()

    def step_of(self, parent_id: uuid.UUID, index: int, iteration: int) -> uuid.UUID | None:
        for run in self.runs.values():
            if run.parent_id == parent_id and run.step == (index, iteration):
                return run.id
        return None

    def start_step(
        self,
        child: AgentExecution,
        events: EventLog,
        batch: EventBatch,
        *,
        known_version: str | None,
    ) -> CheckedStart | None:
        agent = self.agents.get(child.agent_id)
        if agent is None or agent[2] != child.user_id:
            return None
        version, definition, _ = agent
        run = Run(
            child.id,
            child.agent_id,
            version,
            child.user_id,
            child.input,
            mode=child.mode,
            status=ExecutionStatus.running,
            attempt=1,
            parent_id=child.parent_execution_id,
            step=(child.step_index or 0, child.iteration or 0),
            lease_expires_at=child.lease_expires_at,
            started_at=child.started_at,
        )
        with self._lock:
            self.runs[run.id] = run
            self._add_events(run, batch)
        return CheckedStart(
            version,
            WorkflowType.single,
            None if known_version == version else definition.model_dump(mode="json"),
            child.agent_id,
        )

    def recorded(self, execution_id: uuid.UUID) -> Recorded:
        run = self.runs[execution_id]
        return Recorded(run.id, run.status.value, run.output, run.error)

    def tree_usage(self, parent_id: uuid.UUID) -> Usage:
        total = Usage()
        for run in self.children(parent_id):
            total += run.usage
        return total

    def cancel_descendants(self, parent_id: uuid.UUID) -> None:
        now = self.clock.now()
        with self._lock:
            for run in self.children(parent_id):
                run.cancel_requested_at = now
                if run.status == ExecutionStatus.queued:
                    run.status, run.finished_at = ExecutionStatus.cancelled, now
                self.cancel_descendants(run.id)

    def pending_approvals_of(self, execution_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
        return [
            {"execution_id": str(run_id), **call}
            for run_id in execution_ids
            for call in self.runs[run_id].pending_approvals or []
        ]

    def rewait_parent(
        self, child_id: uuid.UUID, calls: list[dict[str, Any]], expires_at: datetime
    ) -> tuple[uuid.UUID, str | None] | None:
        with self._lock:
            parent_id = self.runs[child_id].parent_id
            parent = self.runs.get(parent_id) if parent_id else None
            if parent is None or parent.status != ExecutionStatus.waiting_approval:
                return None
            listed = [{"execution_id": str(child_id), **call} for call in calls]
            parent.pending_approvals = [*(parent.pending_approvals or []), *listed]
            return parent.id, parent.webhook_url

    def wake_parent(self, child_id: uuid.UUID) -> tuple[uuid.UUID, int] | None:
        with self._lock:
            parent_id = self.runs[child_id].parent_id
            parent = self.runs.get(parent_id) if parent_id else None
            if parent is None or parent.status != ExecutionStatus.waiting_approval:
                return None
            if any(c.status == ExecutionStatus.waiting_approval for c in self.children(parent.id)):
                return None
            parent.status, parent.pending_approvals = ExecutionStatus.queued, None
            return parent.id, parent.attempt

    def expire_waits(self) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
        from core.runs.approvals.rows import APPROVAL_EXPIRED

        now = self.clock.now()
        with self._lock:
            expired = [
                run
                for run in self.runs.values()
                if run.status == ExecutionStatus.waiting_approval
                and run.approval_expires_at is not None
                and run.approval_expires_at < now
            ]
            for run in expired:
                run.pending_approvals = None
                self._end(run, ExecutionStatus.cancelled, APPROVAL_EXPIRED)
        for run in expired:  # a workflow's waiting steps end with it
            self.cancel_descendants(run.id)
        return [r.id for r in expired], [r.id for r in expired if r.webhook_url]

    # -- deciding (what core.runs.approvals.deciding does to the row) -------------------------
    def decide(self, execution_id: uuid.UUID, approvals: dict[str, bool]) -> None:
        with self._lock:
            run = self.runs[execution_id]
            assert run.status == ExecutionStatus.waiting_approval
            run.status, run.pending_approvals = ExecutionStatus.queued, None
            run.approval_decisions = {
                call_id: {"approved": ok, "reason": None if ok else "no"}
                for call_id, ok in approvals.items()
            }

    def open_credentials(self, user_id: uuid.UUID, names: set[str]) -> dict[str, Any]:
        from core.credentials import CredentialMissing

        mine = self.credentials.get(user_id, {})
        missing = sorted(name for name in names if name not in mine)
        if missing:
            raise CredentialMissing(missing)
        return {name: mine[name] for name in names}

    def begin_tool_call(
        self, fence: Fence, call_id: str, tool_name: str, mark: str | None
    ) -> ToolCallRow | None:
        with self._lock:
            run = self._fenced(fence, counted=False)
            row = run.tool_calls.get(call_id)
            if row is not None:
                return row
            run.tool_calls[call_id] = ToolCallRow(ToolCallState.started, fence.attempt, None, mark)
            return None

    def move_tool_call(
        self,
        fence: Fence,
        call_id: str,
        *,
        expect: tuple[ToolCallState, int],
        state: ToolCallState,
        outcome: dict[str, Any] | None,
        mark: str | None,
    ) -> bool:
        with self._lock:
            run = self._fenced(fence, counted=False)
            row = run.tool_calls.get(call_id)
            if row is None or (row.state, row.attempt) != expect:
                return False
            if state == ToolCallState.finished:
                run.tool_calls[call_id] = ToolCallRow(
                    state, fence.attempt, outcome, row.approval_mark
                )
            else:
                run.tool_calls[call_id] = ToolCallRow(state, fence.attempt, None, mark)
            return True

    def forget_tool_call(self, fence: Fence, call_id: str) -> None:
        with self._lock:
            run = self._fenced(fence, counted=False)
            row = run.tool_calls.get(call_id)
            if row is not None and (row.state, row.attempt) == (
                ToolCallState.started,
                fence.attempt,
            ):
                del run.tool_calls[call_id]

    def record_credential_sends(
        self,
        credential_ids: list[uuid.UUID],
        agent_id: uuid.UUID,
        host: str,
        execution_id: uuid.UUID,
    ) -> None:
        self.sends.append((credential_ids, agent_id, host, execution_id))

    def definition_to_delegate(self, user_id: uuid.UUID, agent_id: str) -> AgentDefinition | None:
        agent = self.agents.get(uuid.UUID(agent_id))
        return agent[1] if agent is not None and agent[2] == user_id else None

    def input_files(self, user_id: uuid.UUID, ids: list[uuid.UUID]) -> list[Any]:
        return []  # runs of the fakes have text inputs

    # -- reading back -----------------------------------------------------------------------------
    def children(self, parent_id: uuid.UUID) -> list[Run]:
        return sorted(
            (run for run in self.runs.values() if run.parent_id == parent_id),
            key=lambda run: (run.step or (0, 0))[::-1],
        )

    def _ended(self) -> datetime:
        """A lease given up: over at once, even on a clock that stands still."""
        return self.clock.now() - timedelta(microseconds=1)

    def _fenced(self, fence: Fence, *, counted: bool = True) -> Run:
        """The run `fence` holds; `counted` writes add to `writes` (tool calls to
        `tool_call_writes`)."""
        run = self.runs[fence.execution_id]
        if run.attempt != fence.attempt or run.status != ExecutionStatus.running:
            raise LeaseLost(str(fence.execution_id))
        if counted:
            self.writes += 1
        else:
            self.tool_call_writes += 1
        return run

    def _set(self, run: Run, values: dict[str, Any]) -> None:
        if any(name in values for name in Usage.COLUMNS):
            run.usage = Usage(**{name: values[name] for name in Usage.COLUMNS})
        for name in (
            "status",
            "output",
            "error",
            "messages",
            "finished_at",
            "pending_approvals",
            "approval_decisions",
            "approval_expires_at",
        ):
            if name in values:
                setattr(run, name, values[name])

    def _add_events(self, run: Run, batch: EventBatch) -> None:
        first = len(run.events) + 1
        run.events += [(first + i, kind, payload) for i, (kind, payload) in enumerate(batch)]

    def _end(self, run: Run, status: ExecutionStatus, error: dict[str, Any]) -> None:
        run.status, run.error, run.finished_at = status, error, self.clock.now()
        run.lease_expires_at = None
        self._add_events(run, [(EventType.status, {"status": status.value})])
