"""What the run engine keeps about runs, as one boundary: `RunStore`.

The engine (`engine`, `progress`, `workflow_steps`, `agent_step`) reads and writes runs only
through it, so its rules can be tested against a store kept in memory
(tests/support/run_fakes.py). `core.runs.sql_store.SqlRunStore` keeps them in PostgreSQL, each
call one short transaction (mostly one statement: `execution_rows`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from core.agents.usage import Usage
from core.definition import AgentDefinition
from core.models.executions import ExecutionMode
from core.models.sessions import EventType
from core.runs.events import EventLog
from core.runs.leases import ClaimResult, Fence

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage

    from core.credentials import OpenedCredential
    from core.models.executions import AgentExecution, ToolCallState
    from core.runs.execution_rows import CheckedStart
    from core.runs.input_files import InputFile
    from core.runs.tool_call_rows import ToolCallRow

# events as the engine makes them; the store numbers them (EventLog) as it writes them
EventBatch = list[tuple[EventType, dict[str, Any]]]


@dataclass
class RunInputs:
    """What running an execution needs. Its creator holds it already (a sync run, a workflow's
    step just made: no read); a redelivery loads it (`RunStore.load`)."""

    definition: AgentDefinition
    # (agent id, version): which agent version runs
    agent_version: tuple[uuid.UUID, str]
    # the conversation so far (core.runs.session_history), for a turn in a session
    session_history: list[ModelMessage]
    raw_input: Any
    started_at: datetime
    user_id: uuid.UUID
    mode: ExecutionMode
    session_id: uuid.UUID | None
    webhook_url: str | None
    events: EventLog
    # what earlier attempts saved (JSON messages) and used: a resumed run counts on from them
    saved_messages: list[Any] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    # a person's decisions on the calls the saved messages wait on (core.runs.approvals), and
    # how long the run waited for them (not counted against its timeout)
    approval_decisions: dict[str, Any] | None = None
    approval_wait_s: float = 0.0
    # the workflow run this one is a step of
    parent_id: uuid.UUID | None = None
    # the user's tokens left today as the run (or this attempt) starts: its token limit is
    # clamped to them (None: no daily limit, or a workflow's step, which its parent's run counts)
    tokens_left_today: int | None = None
    # the user's USD left today (None: no daily cost limit): the run's cost limit is clamped to
    # it, and a model without a price is refused under it (a step's too: it is the user's)
    cost_left_today: Decimal | None = None
    # the eval run this one is a case of: its end wakes the eval's driver (core.evals)
    eval_id: uuid.UUID | None = None
    # pydantic-ai's stream events as they happen, for a caller that streams the run
    on_event: Callable[[Any], None] | None = None


@dataclass(frozen=True)
class Recorded:
    """How a run ended, as recorded (by this delivery or another)."""

    execution_id: uuid.UUID
    status: str
    output: Any
    error: dict[str, Any] | None


class RunStore(Protocol):
    # -- who runs it (core.runs.leases) ---------------------------------------------------------
    def claim(self, execution_id: uuid.UUID) -> ClaimResult:
        """Take a queued run, or a running one whose lease ran out, under the next attempt."""
        ...

    def release_lease(self, execution_id: uuid.UUID, attempt: int) -> None:
        """End this attempt's lease now (fenced), so a retry claims the run at once."""
        ...

    def load(self, execution_id: uuid.UUID) -> RunInputs:
        """What a claimed run needs, with what earlier attempts saved."""
        ...

    # -- fenced writes: LeaseLost when `fence` no longer owns the run ---------------------------
    def write(
        self, fence: Fence, events: EventLog, batch: EventBatch, values: dict[str, Any]
    ) -> bool:
        """Save `values` (progress: messages and usage columns) and `batch`, extend the lease.
        True when a cancel was requested."""
        ...

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
        """The terminal write: `values` (status, output, error, messages, usage, finished_at),
        the last events, the trace row and the files the run wrote (`written` workspace
        paths become artifacts)."""
        ...

    def release_for_retry(
        self, fence: Fence, events: EventLog, batch: EventBatch, values: dict[str, Any]
    ) -> None:
        """Save progress and end the lease now: a transient failure, retried by the queue."""
        ...

    # -- a workflow's tree (core.runs.workflow_steps) -------------------------------------------
    def step_of(self, parent_id: uuid.UUID, index: int, iteration: int) -> uuid.UUID | None:
        """The child run made earlier for this step, if any."""
        ...

    def start_step(
        self,
        child: AgentExecution,
        events: EventLog,
        batch: EventBatch,
        *,
        known_version: str | None,
    ) -> CheckedStart | None:
        """Insert a step's run (checked like any start: `execution_rows.insert_checked_execution`),
        None when the user may not execute its agent."""
        ...

    def recorded(self, execution_id: uuid.UUID) -> Recorded: ...

    def tree_usage(self, parent_id: uuid.UUID) -> Usage:
        """The summed usage of the runs directly below `parent_id`."""
        ...

    def cancel_descendants(self, parent_id: uuid.UUID) -> None:
        """Ask every active run below `parent_id` to stop."""
        ...

    # -- delegation (core.runs.agent_step) ------------------------------------------------------
    # -- approvals (core.runs.approvals) ---------------------------------------------------------
    def pending_approvals_of(self, execution_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
        """The calls these (waiting) runs wait on, each naming its run (`execution_id`)."""
        ...

    def rewait_parent(
        self, child_id: uuid.UUID, calls: list[dict[str, Any]], expires_at: datetime
    ) -> tuple[uuid.UUID, str | None] | None:
        """A step its workflow waits on waits again: the workflow lists these calls too (its id
        and webhook URL; None when no workflow waits on it)."""
        ...

    def wake_parent(self, child_id: uuid.UUID) -> tuple[uuid.UUID, int] | None:
        """The workflow that waits on this step, queued again (its id and attempt) once none of
        its steps waits any more; None when there is nothing to wake."""
        ...

    def expire_waits(self) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
        """End the waits past their deadline (`approval_expired`): the runs ended, and those of
        them with a webhook to send."""
        ...

    # -- tool calls (core.runs.tool_journal): fenced, LeaseLost when the fence holds no more --
    def begin_tool_call(
        self, fence: Fence, call_id: str, tool_name: str, mark: str | None
    ) -> ToolCallRow | None:
        """Record the call started by this attempt (None), or give back its existing row."""
        ...

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
        """Move the call's row from (state, attempt) `expect`; False when it was not so."""
        ...

    def forget_tool_call(self, fence: Fence, call_id: str) -> None:
        """Drop this attempt's `started` row of a call that did not run after all."""
        ...

    def open_credentials(self, user_id: uuid.UUID, names: set[str]) -> dict[str, OpenedCredential]:
        """The user's credentials of these names (values and the hosts each may go to); raises
        core.credentials.CredentialMissing naming those the user lacks."""
        ...

    def record_credential_sends(
        self,
        credential_ids: list[uuid.UUID],
        agent_id: uuid.UUID,
        host: str,
        execution_id: uuid.UUID,
    ) -> None:
        """A run of `agent_id` just sent these credentials to `host`: their last use."""
        ...

    def definition_to_delegate(self, user_id: uuid.UUID, agent_id: str) -> AgentDefinition | None:
        """The definition of an agent the user may execute; None when missing or forbidden."""
        ...

    def input_files(self, user_id: uuid.UUID, ids: list[uuid.UUID]) -> list[InputFile]:
        """The user's artifacts a run's input names (core.runs.input_files), in order."""
        ...
