"""Schedules over HTTP."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from core.cron import PATTERN as CRON_PATTERN
from core.schemas.agents import PromptInput
from core.schemas.common import RequestModel, ResponseModel


def _cron(**default: Any) -> Any:
    return Field(
        **default,
        min_length=9,
        max_length=120,
        pattern=CRON_PATTERN,
        description="five fields, minute hour day-of-month month day-of-week "
        "(`*/15 9-17 * * 1-5`); every minute at the most",
        examples=["0 9 * * 1-5"],
    )


def _zones(schema: dict[str, Any]) -> None:
    """The zone list as one pattern (an enum would make generated clients name a member per
    zone, and `GMT+0`, `GMT-0`, `GMT0` alike), read when the document is made."""
    from core.cron import zone_names

    names = "|".join(name.replace("+", "\\+") for name in sorted(zone_names()))
    for node in [schema, *schema.get("anyOf", [])]:  # an optional field's string branch too
        if node is schema or node.get("type") == "string":
            node["pattern"] = f"^(?:{names})$"


def _timezone(default: str | None) -> Any:
    return Field(
        default=default,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_+\-/]+$",  # the service's; the document names every zone
        json_schema_extra=_zones,
        description="the IANA time zone the fields are read in; DST as cron handles it",
        examples=["Europe/Paris"],
    )


class ScheduleCreate(RequestModel):
    NOT_NULL = ("session_id", "enabled")

    cron: str = _cron()
    timezone: str = _timezone("UTC")
    input: PromptInput = Field(description="what each run is given, as execute's `input`")
    session_id: uuid.UUID | None = Field(
        default=None, description="each run is a turn of this session of yours (else a new run)"
    )
    enabled: bool = True


class ScheduleUpdate(RequestModel):
    """Only the fields given change; `session_id: null` detaches the session."""

    NOT_NULL = ("cron", "timezone", "input", "enabled")

    cron: str | None = _cron(default=None)
    timezone: str | None = _timezone(None)
    input: PromptInput | None = None
    session_id: uuid.UUID | None = None
    enabled: bool | None = None


class SchedulePublic(ResponseModel):
    id: uuid.UUID
    agent_id: uuid.UUID
    session_id: uuid.UUID | None
    cron: str
    timezone: str
    input: Any
    enabled: bool
    next_run_at: datetime | None = Field(description="the next slot; null while not enabled")
    last_run_at: datetime | None = Field(description="the last slot a run was started for")
    last_execution_id: uuid.UUID | None
    last_error: dict[str, Any] | None = Field(
        description="{code, message, at, slot}: the last slot that could not start (a quota, "
        "a busy session); the schedule goes on"
    )
    stopped_reason: dict[str, Any] | None = Field(
        description="{code, message, at}: why the service disabled it (its owner can no longer "
        "run the agent, the session is gone); enabling it again clears this"
    )
    created_at: datetime
    updated_at: datetime
