"""The run engine's rules, against fakes of its own boundaries (a run store in memory, a
recording queue, a clock moved by hand) and FunctionModel scripts: no database is reachable.

The same rules hold against PostgreSQL and real processes in tests/integration (test_async_runs,
test_crash_matrix, test_workflows); here each rule is seen alone and fast."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from core.config import Settings
from core.models.executions import ExecutionStatus
from core.runs.approvals.suspending import expire_undecided
from core.runs.backends import Backends
from core.runs.engine import run_claimed
from core.services.worker import UNEXPECTED, Delivery, deliver_execution
from core.storage.store import LocalArtifactStore
from core.tools.registry import TOOL_SPECS
from tests.support.backends import answering
from tests.support.crash_worker import count_tool, scripted_model
from tests.support.queues import RecordingQueue
from tests.support.run_fakes import FakeClock, MemoryRunStore, Run

LEASE_S = 60
MAX_ATTEMPTS = 3


class Fakes:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock()
        self.store = MemoryRunStore(self.clock, lease_s=LEASE_S, max_attempts=MAX_ATTEMPTS)
        self.queue = RecordingQueue()
        self.counter = tmp_path / "counter"
        self.user_id = uuid.uuid4()
        settings = Settings(
            data_dir=tmp_path,
            execution_lease_s=LEASE_S,
            execution_max_attempts=MAX_ATTEMPTS,
        )
        self.backends = Backends(
            settings,
            store=self.store,
            queue=self.queue,
            artifacts=LocalArtifactStore(tmp_path / "artifacts"),
            clock=self.clock,
        )

    def agent(self, **changes: Any) -> uuid.UUID:
        definition = {
            "model": {"provider": "test", "name": "test"},
            "system_prompt": "count",
            "tools": [{"name": "count", "enabled": True, "config": {}}],
        }
        return self.store.add_agent(definition | changes, owner=self.user_id)

    def queued(self, **fields: Any) -> Run:
        return self.store.queue_run(fields.pop("agent_id", None) or self.agent(), "go", **fields)

    def deliver(self, run: Run) -> Delivery:
        return deliver_execution(run.id, self.backends)

    def counted(self) -> list[str]:
        return self.counter.read_text().split() if self.counter.exists() else []


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fakes:
    def no_database(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the run engine reached for the database")

    monkeypatch.setattr("core.db.engine.get_engine", no_database)
    monkeypatch.setattr("core.db.engine.session_factory", no_database)
    monkeypatch.setitem(TOOL_SPECS, "count", count_tool())
    monkeypatch.setenv("CRASH_COUNTER_FILE", str(tmp_path / "counter"))
    return Fakes(tmp_path)


def test_a_delivered_run_runs_its_tools_saves_each_step_and_records_its_end(fakes: Fakes) -> None:
    run = fakes.queued(webhook_url="https://hooks.example.com/done")

    with answering(fakes.backends, scripted_model()):
        delivery = fakes.deliver(run)

    assert delivery == Delivery("succeeded")
    assert (run.status, run.output, run.attempt) == (ExecutionStatus.succeeded, "done", 1)
    assert fakes.counted() == ["a", "b"]
    assert run.event_types() == [
        "user_message",
        *["model_response", "tool_call", "tool_result"] * 2,
        "model_response",
        "status",
    ]
    assert [seq for seq, _, _ in run.events] == list(range(1, len(run.events) + 1))
    assert (run.usage.requests, run.usage.cost) == (3, Decimal("0.003"))
    # each tool step saved twice (its call, then its result), and the end written once
    assert fakes.store.writes == 5
    assert run.trace is not None
    assert run.trace["total_tokens"] == 45
    assert [task.path for task in fakes.queue.tasks] == [f"/tasks/webhooks/{run.id}"]


def test_a_run_taken_over_stops_writing_and_the_new_owner_resumes_without_rerunning_tools(
    fakes: Fakes,
) -> None:
    run = fakes.queued()

    def worker_stalls(call: int) -> None:
        if call == 2 and run.attempt == 1:
            # the first worker stalls past its lease; a redelivery claims the run
            fakes.clock.advance(LEASE_S + 1)
            assert fakes.store.claim(run.id).attempt == 2

    with answering(fakes.backends, scripted_model(worker_stalls)):
        first = fakes.deliver(run)
        assert first == Delivery("abandoned")
        assert fakes.counted() == ["a"]  # count("b") was asked for, but its save was refused
        saved = run.usage.requests
        second = run_claimed(run.id, 2, fakes.backends, retry_transient=True)

    assert second is not None
    assert second.status == "succeeded"
    assert fakes.counted() == ["a", "b"]  # each tool ran once over both attempts
    assert saved == 1
    assert run.usage.requests == 3  # the abandoned response is not counted


def test_a_cancel_requested_mid_run_ends_it_at_the_next_step(fakes: Fakes) -> None:
    run = fakes.queued()

    def user_cancels(call: int) -> None:
        if call == 2:
            run.cancel_requested_at = fakes.clock.now()

    with answering(fakes.backends, scripted_model(user_cancels)):
        assert fakes.deliver(run) == Delivery("cancelled")

    assert fakes.counted() == ["a"]
    assert run.status == ExecutionStatus.cancelled
    assert run.events[-1][2] == {"status": "cancelled"}


def test_the_timeout_counts_from_the_first_attempt(fakes: Fakes) -> None:
    run = fakes.queued(agent_id=fakes.agent(limits={"timeout_s": 30}))
    assert fakes.store.claim(run.id).attempt == 1  # a worker takes it, then dies
    fakes.clock.advance(LEASE_S + 1)
    calls: list[int] = []

    with answering(fakes.backends, scripted_model(calls.append)):
        assert fakes.deliver(run) == Delivery("timed_out")

    assert calls == []  # the time was spent before the model was ever called
    assert run.error is not None
    assert run.error["code"] == "timeout"


def test_a_transient_model_failure_is_retried_until_the_attempts_run_out(fakes: Fakes) -> None:
    run = fakes.queued()

    def overloaded(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise ModelHTTPError(503, "test", {"error": "overloaded"})

    with answering(fakes.backends, FunctionModel(overloaded)):
        deliveries = [fakes.deliver(run) for _ in range(MAX_ATTEMPTS + 1)]

    retried = deliveries[: MAX_ATTEMPTS - 1]
    assert all(d.status == "retrying" and d.retry_after_s for d in retried)
    assert [d.status for d in deliveries[MAX_ATTEMPTS - 1 :]] == ["failed", "done"]
    assert run.status == ExecutionStatus.failed
    assert run.error is not None
    assert run.error["code"] == "model_error"
    retrying = [p for _, kind, p in run.events if p.get("status") == "retrying"]
    assert len(retrying) == MAX_ATTEMPTS - 1


def test_a_retried_run_is_claimable_at_once_not_after_its_lease(fakes: Fakes) -> None:
    run = fakes.queued()
    failures = [ModelHTTPError(429, "test", {"error": "slow down"})]

    def once_rate_limited(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if failures:
            raise failures.pop()
        return ModelResponse(parts=[TextPart("fine")])

    with answering(fakes.backends, FunctionModel(once_rate_limited)):
        assert fakes.deliver(run).status == "retrying"
        assert fakes.deliver(run) == Delivery("succeeded")  # same instant: no lease to wait out
    assert run.attempt == 2


def test_a_second_delivery_under_a_live_lease_is_told_when_to_come_back(fakes: Fakes) -> None:
    run = fakes.queued()
    assert fakes.store.claim(run.id).attempt == 1
    fakes.clock.advance(20)

    assert fakes.deliver(run) == Delivery("busy", retry_after_s=LEASE_S - 20 + 1)
    assert run.attempt == 1


def test_a_delivery_that_fails_unexpectedly_gives_its_lease_up(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = fakes.queued()

    def store_down(*args: Any, **kwargs: Any) -> bool:
        raise ConnectionError("the store went away")

    monkeypatch.setattr(fakes.store, "write", store_down)
    with answering(fakes.backends, scripted_model()):
        assert fakes.deliver(run) == Delivery("retrying", UNEXPECTED, retry_after_s=5)

    assert run.status == ExecutionStatus.running
    assert fakes.store.claim(run.id).attempt == 2  # at once: the lease was given up


def test_a_sequential_workflow_runs_each_step_as_a_child_and_sums_their_usage(
    fakes: Fakes,
) -> None:
    first, second = fakes.agent(system_prompt="first"), fakes.agent(system_prompt="second")
    flow = fakes.agent(
        system_prompt="flow", tools=[], workflow={"type": "sequential", "steps": [first, second]}
    )
    run = fakes.queued(agent_id=flow)

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompt = messages[0].parts[-1].content  # type: ignore[union-attr]
        return ModelResponse(parts=[TextPart(f"{prompt}+{info.instructions}")])

    with answering(fakes.backends, FunctionModel(respond)):
        assert fakes.deliver(run) == Delivery("succeeded")

    children = fakes.store.children(run.id)
    assert [(child.step, child.output) for child in children] == [
        ((0, 0), "go+first"),
        ((1, 0), "go+first+second"),
    ]
    assert run.output == "go+first+second"
    assert run.usage.requests == sum(child.usage.requests for child in children) == 2
    notes = [p for _, _, p in run.events if p.get("status") == "step_finished"]
    assert [note["child_status"] for note in notes] == ["succeeded", "succeeded"]


def test_a_workflow_redelivered_reuses_the_steps_it_finished(fakes: Fakes) -> None:
    first, second = fakes.agent(system_prompt="first"), fakes.agent(system_prompt="second")
    flow = fakes.agent(
        system_prompt="flow", tools=[], workflow={"type": "sequential", "steps": [first, second]}
    )
    run = fakes.queued(agent_id=flow)
    seen: list[str] = []

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(str(info.instructions))
        if len(seen) == 2:  # the parent's worker stalls in step 2; a redelivery takes over
            fakes.clock.advance(LEASE_S + 1)
            fakes.store.claim(run.id)
        return ModelResponse(parts=[TextPart(str(info.instructions))])

    with answering(fakes.backends, FunctionModel(respond)):
        assert fakes.deliver(run) == Delivery("abandoned")
        fakes.clock.advance(LEASE_S + 1)  # the stalled step's lease runs out too
        assert run_claimed(run.id, 2, fakes.backends) is not None

    assert run.status == ExecutionStatus.succeeded
    assert seen.count("first") == 1  # the finished step was not run again
    assert len(fakes.store.children(run.id)) == 2


def test_a_run_that_needs_approval_waits_without_a_lease_and_resumes_with_the_decisions(
    fakes: Fakes,
) -> None:
    approved = [{"name": "count", "enabled": True, "config": {}, "requires_approval": True}]
    run = fakes.queued(agent_id=fakes.agent(tools=approved), webhook_url="https://h.example/x")
    with answering(fakes.backends, scripted_model()):
        assert fakes.deliver(run) == Delivery("waiting_approval")
        assert (run.status, run.lease_expires_at) == (ExecutionStatus.waiting_approval, None)
        assert [c["tool_call_id"] for c in run.pending_approvals or []] == ["call-a"]
        assert fakes.counted() == []
        assert fakes.deliver(run) == Delivery("done")  # a duplicate finds nothing to do
        fakes.store.decide(run.id, {"call-a": True})
        assert fakes.deliver(run) == Delivery("waiting_approval")  # count("b") waits in turn
        assert fakes.counted() == ["a"]
        fakes.store.decide(run.id, {"call-b": False})
        assert fakes.deliver(run) == Delivery("succeeded")
    assert fakes.counted() == ["a"]  # the denied call never ran
    assert run.event_types().count("approval_requested") == 2
    hooks = [t.name for t in fakes.queue.tasks if t.path.startswith("/tasks/webhooks/")]
    assert len(hooks) == 3  # approval needed twice, then the end: three distinct tasks
    assert len(set(hooks)) == 3


def test_a_wait_nobody_decided_ends_at_its_deadline_and_not_before(fakes: Fakes) -> None:
    approved = [{"name": "count", "enabled": True, "config": {}, "requires_approval": True}]
    run = fakes.queued(agent_id=fakes.agent(tools=approved), webhook_url="https://h.example/x")
    with answering(fakes.backends, scripted_model()):
        assert fakes.deliver(run) == Delivery("waiting_approval")
    ttl = fakes.backends.settings.approval_ttl_s
    fakes.clock.advance(ttl - 1)
    assert expire_undecided(fakes.backends) == 0
    assert run.status == ExecutionStatus.waiting_approval
    fakes.clock.advance(2)
    assert expire_undecided(fakes.backends) == 1
    assert run.status == ExecutionStatus.cancelled
    assert (run.error or {}).get("code") == "approval_expired"
    assert expire_undecided(fakes.backends) == 0  # a second sweep finds nothing
    assert fakes.counted() == []
    hooks = [t.name for t in fakes.queue.tasks if t.path.startswith("/tasks/webhooks/")]
    assert len(set(hooks)) == 2  # the wait, then its end


def test_spent_decisions_are_not_applied_again_after_a_takeover(fakes: Fakes) -> None:
    approved = [{"name": "count", "enabled": True, "config": {}, "requires_approval": True}]
    run = fakes.queued(agent_id=fakes.agent(tools=approved))
    with answering(fakes.backends, scripted_model()):
        fakes.deliver(run)
        fakes.store.decide(run.id, {"call-a": True})
        fakes.deliver(run)  # runs count("a"), then waits on count("b")
    # a stale redelivery carrying the old decisions changes nothing: the call was answered
    run.status, run.approval_decisions = ExecutionStatus.queued, {"call-a": {"approved": True}}
    with answering(fakes.backends, scripted_model()):
        assert fakes.deliver(run) == Delivery("waiting_approval")
    assert fakes.counted() == ["a"]
