"""A run's tree (a workflow's steps, their steps): the usage below a run, and cancelling it."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.models.executions import AgentExecution, ExecutionStatus
from core.runs.usage import Usage


def tree_usage(parent_id: uuid.UUID) -> Usage:
    """The summed usage below `parent_id`: its direct children's (a child workflow's own usage
    already is the sum of its children)."""
    from sqlalchemy import func

    from core.db import transaction

    with transaction() as db:
        row = db.execute(
            select(
                *(func.sum(getattr(AgentExecution, name)).label(name) for name in Usage.COLUMNS)
            ).where(AgentExecution.parent_execution_id == parent_id)
        ).one()
    return Usage.of_row(row)


def cancel_descendants(parent_id: uuid.UUID, db: Session | None = None) -> None:
    """Ask every active execution below `parent_id` to stop: queued ones end at once, running
    ones at their next step."""
    from sqlalchemy import text

    from core.db import transaction

    def apply(session: Session) -> None:
        ids = [
            row[0]
            for row in session.execute(
                text(
                    "WITH RECURSIVE tree(id) AS ("
                    " SELECT id FROM agent_executions WHERE parent_execution_id = :parent"
                    " UNION ALL SELECT e.id FROM agent_executions e JOIN tree t"
                    " ON e.parent_execution_id = t.id) SELECT id FROM tree"
                ),
                {"parent": parent_id},
            )
        ]
        if not ids:
            return
        now = utcnow()
        session.execute(
            update(AgentExecution)
            .where(AgentExecution.id.in_(ids), AgentExecution.status == ExecutionStatus.queued)
            .values(status=ExecutionStatus.cancelled, cancel_requested_at=now, finished_at=now)
        )
        session.execute(
            update(AgentExecution)
            .where(AgentExecution.id.in_(ids), AgentExecution.status == ExecutionStatus.running)
            .values(cancel_requested_at=now)
        )

    if db is not None:
        apply(db)
        return
    with transaction() as session:
        apply(session)


# -- definition-time checks ------------------------------------------------------------------------
