"""Workflow agents: sequential, parallel and loop, each step a child execution.

The parent execution is claimed like any run; its steps become child executions (parent id,
step index, iteration) that are claimed and run in turn (or side by side) by the same delivery,
each with its own events and usage. A redelivered parent reuses the children it already made:
finished ones are not run again, unfinished ones resume (durable resume). Limits apply to the
whole tree: the children's summed usage is checked after every step, and the parent's timeout
bounds each child's. Cancelling the parent cancels its children.

- sequential: each step's output is the next step's input; the last output is the workflow's.
- parallel: the steps run at once (at most WORKFLOW_MAX_PARALLEL); the output is an object keyed
  by step index ("0", "1", ...); a failed step fails the workflow and the others are cancelled.
- loop: the steps run in order, repeatedly, until a step's output is an object with
  `"done": true` (that output is the workflow's) or `max_iterations` rounds have run.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from core.definition import AgentDefinition, Limits
from core.models.executions import ExecutionMode, ExecutionStatus, WorkflowType
from core.models.sessions import EventType
from core.runs import execution_rows, known_definitions
from core.runs.backends import Backends
from core.runs.events import EventLog
from core.runs.leases import Fence, lease_holder
from core.runs.store import Recorded, RunInputs

if TYPE_CHECKING:
    from core.agents.runner import RunOutcome

log = logging.getLogger(__name__)


class StepBusy(Exception):
    """A child is still held by an earlier delivery's live lease: retry the parent later."""


class StepsWaiting(Exception):
    """Steps wait for a person's approvals: the workflow waits with them."""

    def __init__(self, execution_ids: list[uuid.UUID]) -> None:
        super().__init__(", ".join(map(str, execution_ids)))
        self.execution_ids = execution_ids


class Stop(Exception):
    """The workflow ends early (a failed step, a limit, a cancel)."""

    def __init__(self, status: str, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class WorkflowRun:
    fence: Fence  # the parent's
    user_id: uuid.UUID
    mode: ExecutionMode
    definition: AgentDefinition
    backends: Backends
    deadline: datetime
    events: EventLog
    lock: threading.Lock
    # core.runs.engine.run_claimed: how a step's child execution is run (given, so this module
    # and the engine that runs workflows do not import each other)
    run_claimed: Callable[..., RunOutcome | None]

    @property
    def parent_id(self) -> uuid.UUID:
        return self.fence.execution_id

    def step(self, index: int, iteration: int, agent_id: uuid.UUID, prompt: Any) -> Recorded:
        store = self.backends.store
        child_id, inputs = self._child(index, iteration, agent_id, prompt)
        outcome = None
        if inputs is not None:  # made just now, already ours: run it without reading it back
            outcome = self.run_claimed(child_id, 1, self.backends, inputs=inputs)
        else:  # made by an earlier delivery: claim it like any redelivered run
            claimed = store.claim(child_id)
            if claimed.attempt is not None:
                outcome = self.run_claimed(child_id, claimed.attempt, self.backends)
            elif not claimed.done:
                raise StepBusy(str(child_id))
        if outcome is not None:  # what this delivery recorded
            result = Recorded(child_id, outcome.status, outcome.output, outcome.error)
        else:  # what another delivery recorded
            result = store.recorded(child_id)
        self._note(index, iteration, result)
        return result

    def _child(
        self, index: int, iteration: int, agent_id: uuid.UUID, prompt: Any
    ) -> tuple[uuid.UUID, RunInputs | None]:
        """The child execution of this step, made once (a redelivery finds it again). A child
        made now is created running under this delivery (attempt 1) and comes with what running
        it needs; one found again comes alone, to be claimed."""
        store, settings = self.backends.store, self.backends.settings
        with self.lock:
            existing = store.step_of(self.parent_id, index, iteration)
            if existing is not None:
                return existing, None
            known = known_definitions.latest(agent_id)
            now = self.backends.clock.now()
            child = execution_rows.new_execution(
                id=uuid.uuid4(),
                agent_id=agent_id,
                agent_version="",
                user_id=self.user_id,
                parent_execution_id=self.parent_id,
                step_index=index,
                iteration=iteration,
                status=ExecutionStatus.running,
                attempt=1,
                lease_expires_at=now + timedelta(seconds=settings.execution_lease_s),
                lease_holder=lease_holder(),
                started_at=now,
                workflow_type=WorkflowType.single,
                mode=self.mode,
                input=prompt,
                created_at=now,
                updated_at=now,
            )
            events = EventLog(execution_id=child.id, session_id=None)
            started = store.start_step(
                child,
                events,
                [(EventType.user_message, {"content": prompt})],
                known_version=known[0] if known else None,
            )
            if started is None:
                raise Stop(
                    "failed",
                    "step_not_executable",
                    f"step {index}: agent {agent_id} is missing or you may not execute it",
                )
            if started.definition is None:
                assert known is not None
                step_definition = known[1]
            else:
                step_definition = AgentDefinition.model_validate(started.definition)
                known_definitions.remember(agent_id, started.version, step_definition)
            inputs = RunInputs(
                definition=step_definition,
                agent_version=(agent_id, started.version),
                session_history=[],
                raw_input=prompt,
                started_at=now,
                user_id=self.user_id,
                mode=self.mode,
                session_id=None,
                webhook_url=None,
                events=events,
                cost_left_today=started.cost_left,
            )
            return child.id, inputs

    def _note(self, index: int, iteration: int, result: Recorded) -> None:
        payload = {
            "status": "step_finished",
            "step_index": index,
            "iteration": iteration,
            "child_execution_id": str(result.execution_id),
            "child_status": result.status,
        }
        with self.lock:
            if self.backends.store.write(
                self.fence, self.events, [(EventType.status, payload)], {}
            ):
                raise Stop("cancelled", "cancelled", "cancelled on request")

    def check_budget(self) -> None:
        usage = self.backends.store.tree_usage(self.parent_id)
        limits: Limits = self.definition.limits
        if usage.requests > limits.max_requests:
            raise Stop(
                "failed",
                "limit_exceeded",
                f"the workflow made {usage.requests} "
                f"model requests; limits.max_requests is {limits.max_requests}",
            )
        if usage.tool_calls > limits.max_tool_calls:
            raise Stop(
                "failed",
                "limit_exceeded",
                f"the workflow made {usage.tool_calls} "
                f"tool calls; limits.max_tool_calls is {limits.max_tool_calls}",
            )
        if usage.total_tokens > limits.max_total_tokens:
            raise Stop(
                "failed",
                "limit_exceeded",
                f"the workflow used {usage.total_tokens} tokens; "
                f"limits.max_total_tokens is {limits.max_total_tokens}",
            )
        if self.backends.clock.now() > self.deadline:
            raise Stop("timed_out", "timeout", "the workflow took longer than limits.timeout_s")


def run_workflow(run: WorkflowRun, prompt: Any) -> tuple[str, Any, dict[str, Any] | None]:
    """Returns (status, output, error). Raises StepsWaiting when steps wait for approvals (a
    decision resumes them; the last one to finish wakes the workflow, which goes on)."""
    assert run.definition.workflow is not None
    spec = run.definition.workflow
    try:
        if spec.type == "parallel":
            return "succeeded", _parallel(run, spec.steps, prompt), None
        rounds = spec.max_iterations if spec.type == "loop" else 1
        current = prompt
        for iteration in range(rounds):
            for index, agent_id in enumerate(spec.steps):
                result = run.step(index, iteration, agent_id, _as_input(current))
                if result.status == ExecutionStatus.waiting_approval.value:
                    raise StepsWaiting([result.execution_id])
                _require_success(index, result)
                run.check_budget()
                current = result.output
                if (
                    spec.type == "loop"
                    and isinstance(current, dict)
                    and current.get("done") is True
                ):
                    return "succeeded", current, None
        return "succeeded", current, None
    except Stop as stop:
        run.backends.store.cancel_descendants(run.parent_id)
        return stop.status, None, {"code": stop.code, "message": stop.message}


def _parallel(run: WorkflowRun, steps: list[uuid.UUID], prompt: Any) -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    with ThreadPoolExecutor(
        max_workers=min(run.backends.settings.workflow_max_parallel, len(steps))
    ) as pool:
        futures: dict[Future[Recorded], int] = {
            pool.submit(run.step, index, 0, agent_id, _as_input(prompt)): index
            for index, agent_id in enumerate(steps)
        }
        pending = set(futures)
        waiting: list[uuid.UUID] = []
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = futures[future]
                try:
                    result = future.result()
                    if result.status == ExecutionStatus.waiting_approval.value:
                        waiting.append(result.execution_id)  # the others go on meanwhile
                        continue
                    _require_success(index, result)
                except Stop:
                    run.backends.store.cancel_descendants(
                        run.parent_id
                    )  # the other steps stop at their next step
                    for other in pending:
                        other.cancel()
                    raise
                outputs[str(index)] = result.output
        if waiting:
            raise StepsWaiting(waiting)
        run.check_budget()
    return dict(sorted(outputs.items(), key=lambda item: int(item[0])))


def _require_success(index: int, result: Recorded) -> None:
    if result.status != "succeeded":
        detail = (result.error or {}).get("message", result.status)
        status = "cancelled" if result.status == "cancelled" else "failed"
        raise Stop(status, "step_failed", f"step {index} ended {result.status}: {detail}")


def _as_input(value: Any) -> Any:
    """A step's input: text stays text, an object stays an object, anything else as JSON."""
    if value is None or isinstance(value, str | dict):
        return value if value is not None else ""
    return json.dumps(value, ensure_ascii=False)
