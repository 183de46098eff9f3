"""API schemas of executions and their events."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, model_validator

from core.models.executions import ExecutionMode, ExecutionStatus, WorkflowType
from core.models.sessions import EventType
from core.schemas.common import PageQuery, RequestModel, ResponseModel, cursor_field


class Usage(ResponseModel):
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    tool_calls: int = 0


class ChildExecution(ResponseModel):
    id: uuid.UUID
    agent_id: uuid.UUID
    step_index: int | None
    iteration: int | None
    status: ExecutionStatus
    usage: Usage


class PendingApproval(ResponseModel):
    execution_id: uuid.UUID | None = Field(
        default=None, description="a workflow's: the step (child execution) that waits on it"
    )
    tool_call_id: str
    tool_name: str
    args: dict[str, Any]
    requested_at: datetime
    expires_at: datetime


class ApprovalDecision(RequestModel):
    NOT_NULL = ("reason",)

    tool_call_id: str = Field(min_length=1, max_length=200)
    approved: bool
    reason: str | None = Field(
        default=None, max_length=2000, description="told to the model with a denial"
    )


class ApprovalsRequest(RequestModel):
    model_config = RequestModel.model_config | {
        "json_schema_extra": {
            "example": {
                "decisions": [
                    {"tool_call_id": "call_1", "approved": True},
                    {"tool_call_id": "call_2", "approved": False, "reason": "not that repo"},
                ]
            }
        }
    }

    decisions: list[ApprovalDecision] = Field(
        min_length=1, max_length=64, description="one per pending call, each call once"
    )


class ExecutionPublic(ResponseModel):
    id: uuid.UUID
    agent_id: uuid.UUID
    agent_version: str
    user_id: uuid.UUID
    session_id: uuid.UUID | None
    parent_execution_id: uuid.UUID | None
    step_index: int | None
    iteration: int | None
    status: ExecutionStatus
    workflow_type: WorkflowType
    mode: ExecutionMode
    trigger: Literal["api", "schedule", "workflow", "eval"] = Field(
        description="what started it: a request, a schedule (schedule_id), a workflow (a step), "
        "or an eval run (eval_id: a case of it)"
    )
    schedule_id: uuid.UUID | None
    eval_id: uuid.UUID | None = None
    input: Any
    output: Any
    error: dict[str, Any] | None
    usage: Usage
    cost: Decimal | None = Field(description="USD, where the model is priced; else null")
    trace_id: str | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    pending_approvals: list[PendingApproval] = Field(
        default_factory=list,
        description="waiting_approval: the tool calls a person must decide (all in one request)",
    )
    children: list[ChildExecution] = Field(
        default_factory=list,
        description="a workflow's steps as child executions (on a single execution's read)",
    )

    @model_validator(mode="before")
    @classmethod
    def _usage_from_columns(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return value
        skip = {"usage", "children", "trigger"}
        fields = {name: getattr(value, name) for name in cls.model_fields if name not in skip}
        fields["usage"] = _usage_of(value)
        fields["trigger"] = (
            "workflow"
            if value.parent_execution_id is not None
            else "schedule"
            if value.schedule_id is not None
            else "eval"
            if value.eval_id is not None
            else "api"
        )
        waiting = fields["status"] == ExecutionStatus.waiting_approval
        fields["pending_approvals"] = (value.pending_approvals or []) if waiting else []
        # set by the service where wanted (never lazily loaded: lists would query per row)
        fields["children"] = [
            {
                "id": child.id,
                "agent_id": child.agent_id,
                "step_index": child.step_index,
                "iteration": child.iteration,
                "status": child.status,
                "usage": _usage_of(child),
            }
            for child in value.__dict__.get("children", [])
        ]
        return fields


def _usage_of(execution: Any) -> dict[str, int]:
    return {name: getattr(execution, name) for name in Usage.model_fields}


class ExecutionsQuery(PageQuery):
    agent_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    status: ExecutionStatus | None = None


class EventPublic(ResponseModel):
    id: uuid.UUID
    seq: int
    type: EventType
    payload: dict[str, Any]
    execution_id: uuid.UUID | None
    session_id: uuid.UUID | None
    created_at: datetime


class EventsQuery(PageQuery):
    limit: int = Field(default=100, ge=1, le=500, description="page size, 1..500")
    cursor: str | None = cursor_field("number")


def execution_json(execution: Any) -> Any:
    """An execution as the API answers it (JSON-ready), outside a response (a streamed run's
    last frame)."""
    return ExecutionPublic.model_validate(execution).model_dump(mode="json")
