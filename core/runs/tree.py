"""A run's tree (a workflow's steps, their steps): the usage below a run, and cancelling it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from core.agents.usage import Usage
from core.models.executions import AgentExecution, ExecutionStatus


def tree_usage(db: Session | Connection, parent_id: uuid.UUID) -> Usage:
    """The summed usage below `parent_id`: its direct children's (a child workflow's own usage
    already is the sum of its children)."""
    row = db.execute(
        select(
            *(func.sum(getattr(AgentExecution, name)).label(name) for name in Usage.COLUMNS)
        ).where(AgentExecution.parent_execution_id == parent_id)
    ).one()
    return Usage.of_row(row)


def cancel_descendants(db: Session | Connection, parent_id: uuid.UUID, now: datetime) -> None:
    """Ask every active execution below `parent_id` to stop: queued ones (and ones waiting for
    approvals) end at once, running ones at their next step."""
    ids = [
        row[0]
        for row in db.execute(
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
    db.execute(
        update(AgentExecution)
        .where(
            AgentExecution.id.in_(ids),
            AgentExecution.status.in_((ExecutionStatus.queued, ExecutionStatus.waiting_approval)),
        )
        .values(status=ExecutionStatus.cancelled, cancel_requested_at=now, finished_at=now)
    )
    db.execute(
        update(AgentExecution)
        .where(AgentExecution.id.in_(ids), AgentExecution.status == ExecutionStatus.running)
        .values(cancel_requested_at=now)
    )
