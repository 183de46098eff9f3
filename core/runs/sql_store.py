"""The run engine's store in PostgreSQL (`RunStore`): each call one short transaction, the hot
ones (progress, the end) a single fenced statement (`execution_rows.hold`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, null, select
from sqlalchemy.orm import Session

from core.agents.usage import Usage
from core.clock import Clock
from core.config import Settings
from core.credentials import OpenedCredential
from core.db import core_transaction, then_commit, transaction
from core.definition import AgentDefinition
from core.models.agents import AgentVersion
from core.models.executions import AgentExecution, ToolCallState
from core.runs import execution_rows, leases, tool_call_rows, tree
from core.runs.approvals import rows as approval_rows
from core.runs.events import EventLog
from core.runs.execution_rows import CheckedStart
from core.runs.input_files import InputFile, input_files
from core.runs.leases import ClaimResult, Fence
from core.runs.session_history import session_history
from core.runs.store import EventBatch, Recorded, RunInputs
from core.runs.tool_call_rows import ToolCallRow
from core.storage.store import ArtifactStore


class SqlRunStore:
    def __init__(self, settings: Settings, artifacts: ArtifactStore, clock: Clock) -> None:
        self.settings = settings
        self.artifacts = artifacts
        self.clock = clock

    def claim(self, execution_id: uuid.UUID) -> ClaimResult:
        with transaction() as db:
            return leases.claim(db, execution_id, self.settings, self.clock.now())

    def release_lease(self, execution_id: uuid.UUID, attempt: int) -> None:
        with core_transaction() as db:
            leases.release_lease(db, execution_id, attempt, self.clock.now())

    def load(self, execution_id: uuid.UUID) -> RunInputs:
        with transaction() as db:
            execution = db.get(AgentExecution, execution_id)
            assert execution is not None
            # the day's tokens left come with the definition (a step's parent counts them)
            top_level = execution.parent_execution_id is None
            raw_definition, tokens_left, cost_left = db.execute(
                select(
                    AgentVersion.definition,
                    func.daily_tokens_left(execution.user_id) if top_level else null(),
                    func.daily_cost_left(execution.user_id),
                ).where(
                    AgentVersion.agent_id == execution.agent_id,
                    AgentVersion.version == execution.agent_version,
                )
            ).one()
            definition = AgentDefinition.model_validate(raw_definition)
            return RunInputs(
                definition=definition,
                agent_version=(execution.agent_id, execution.agent_version),
                session_history=(
                    []
                    if execution.session_id is None
                    else session_history(db, execution.session_id)
                ),
                raw_input=execution.input,
                started_at=execution.started_at or self.clock.now(),
                user_id=execution.user_id,
                mode=execution.mode,
                session_id=execution.session_id,
                webhook_url=execution.webhook_url,
                events=EventLog(execution_id=execution_id, session_id=execution.session_id),
                saved_messages=list(execution.messages or []),
                usage=Usage.of_row(execution),
                approval_decisions=execution.approval_decisions,
                approval_wait_s=execution.approval_wait_s or 0.0,
                parent_id=execution.parent_execution_id,
                tokens_left_today=tokens_left,
                cost_left_today=cost_left,
                eval_id=execution.eval_id,
            )

    def write(
        self, fence: Fence, events: EventLog, batch: EventBatch, values: dict[str, Any]
    ) -> bool:
        with events.announcing(), core_transaction() as db:
            return self._hold(db, fence, events.rows(db, batch), values, commit=then_commit())

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
        # recording written files adds ORM objects; everything else is Core statements
        with events.announcing(), transaction() if written else core_transaction() as db:
            self._hold(
                db,
                fence,
                events.rows(db, batch),
                values,
                trace=trace,
                commit=None if written else then_commit(),
            )
            if written:
                assert isinstance(db, Session)
                self._record_written_files(db, fence.execution_id, events.session_id, written)

    def release_for_retry(
        self, fence: Fence, events: EventLog, batch: EventBatch, values: dict[str, Any]
    ) -> None:
        with events.announcing(), core_transaction() as db:
            self._hold(db, fence, events.rows(db, batch), values)
            leases.release_lease(db, fence.execution_id, fence.attempt, self.clock.now())

    def step_of(self, parent_id: uuid.UUID, index: int, iteration: int) -> uuid.UUID | None:
        with core_transaction() as db:
            return db.scalar(
                select(AgentExecution.id).where(
                    AgentExecution.parent_execution_id == parent_id,
                    AgentExecution.step_index == index,
                    AgentExecution.iteration == iteration,
                )
            )

    def start_step(
        self,
        child: AgentExecution,
        events: EventLog,
        batch: EventBatch,
        *,
        known_version: str | None,
    ) -> CheckedStart | None:
        with core_transaction() as db:
            return execution_rows.insert_checked_execution(
                db, child, events.opening(batch), known_version=known_version
            )

    def recorded(self, execution_id: uuid.UUID) -> Recorded:
        with core_transaction() as db:
            row = db.execute(
                select(AgentExecution.status, AgentExecution.output, AgentExecution.error).where(
                    AgentExecution.id == execution_id
                )
            ).one()
        return Recorded(execution_id, row.status.value, row.output, row.error)

    def tree_usage(self, parent_id: uuid.UUID) -> Usage:
        with core_transaction() as db:
            return tree.tree_usage(db, parent_id)

    def cancel_descendants(self, parent_id: uuid.UUID) -> None:
        with core_transaction() as db:
            tree.cancel_descendants(db, parent_id, self.clock.now())

    def pending_approvals_of(self, execution_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
        with core_transaction() as db:
            return approval_rows.pending_approvals_of(db, execution_ids)

    def rewait_parent(
        self, child_id: uuid.UUID, calls: list[dict[str, Any]], expires_at: datetime
    ) -> tuple[uuid.UUID, str | None] | None:
        with transaction() as db:
            return approval_rows.rewait_parent_row(
                db, child_id, calls, expires_at, self.clock.now()
            )

    def wake_parent(self, child_id: uuid.UUID) -> tuple[uuid.UUID, int] | None:
        with transaction() as db:
            return approval_rows.wake_parent_row(db, child_id, self.clock.now())

    def expire_waits(self) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
        with transaction() as db:
            expired = approval_rows.expire_waiting(db, self.clock.now())
            return expired, approval_rows.webhooks_of(db, expired)

    def begin_tool_call(
        self, fence: Fence, call_id: str, tool_name: str, mark: str | None
    ) -> ToolCallRow | None:
        with transaction() as db:
            return tool_call_rows.begin(db, fence, call_id, tool_name, mark, self.clock.now())

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
        with transaction() as db:
            return tool_call_rows.move(
                db,
                fence,
                call_id,
                expect=expect,
                state=state,
                outcome=outcome,
                mark=mark,
                now=self.clock.now(),
            )

    def forget_tool_call(self, fence: Fence, call_id: str) -> None:
        with transaction() as db:
            tool_call_rows.forget(db, fence, call_id)

    def open_credentials(self, user_id: uuid.UUID, names: set[str]) -> dict[str, OpenedCredential]:
        from core.credentials import open_credentials

        if not names:
            return {}
        with transaction() as db:
            return open_credentials(db, user_id=user_id, names=names, settings=self.settings)

    def record_credential_sends(
        self,
        credential_ids: list[uuid.UUID],
        agent_id: uuid.UUID,
        host: str,
        execution_id: uuid.UUID,
    ) -> None:
        from core.credentials import record_sends

        with transaction() as db:
            record_sends(
                db,
                credential_ids=credential_ids,
                agent_id=agent_id,
                host=host,
                execution_id=execution_id,
                now=self.clock.now(),
            )

    def definition_to_delegate(self, user_id: uuid.UUID, agent_id: str) -> AgentDefinition | None:
        from core.access.agents import Access, agent_for
        from core.errors import DomainError
        from core.models.users import User

        with transaction() as db:
            user = db.get(User, user_id)
            try:
                assert user is not None
                agent = agent_for(db, user, uuid.UUID(agent_id), Access.execute)
            except (DomainError, ValueError):
                return None
            return AgentDefinition.model_validate(agent.definition)

    def input_files(self, user_id: uuid.UUID, ids: list[uuid.UUID]) -> list[InputFile]:
        if not ids:
            return []
        with transaction() as db:
            return input_files(db, user_id, ids)

    def _hold(
        self,
        db: Any,
        fence: Fence,
        event_rows: list[dict[str, Any]],
        values: dict[str, Any],
        *,
        trace: dict[str, Any] | None = None,
        commit: dict[str, Any] | None = None,
    ) -> bool:
        cancel_requested_at = execution_rows.hold(
            db,
            fence.execution_id,
            fence.attempt,
            fence.lease_s,
            values,
            events=event_rows,
            trace=trace,
            commit=commit,
            now=self.clock.now(),
        )
        return cancel_requested_at is not None

    def _record_written_files(
        self, db: Session, execution_id: uuid.UUID, session_id: uuid.UUID | None, paths: list[str]
    ) -> None:
        """Files the run wrote with file_write become artifacts of the execution (and session)."""
        from core.artifacts import record_workspace_files
        from core.storage.workspace import workspace_for

        user_id = db.scalar(select(AgentExecution.user_id).where(AgentExecution.id == execution_id))
        assert user_id is not None
        record_workspace_files(
            db,
            store=self.artifacts,
            settings=self.settings,
            user_id=user_id,
            session_id=session_id,
            execution_id=execution_id,
            workspace=workspace_for(
                self.settings, self.artifacts, session_id=session_id, execution_id=execution_id
            ),
            now=self.clock.now(),
            paths=paths,
        )
