"""Cloud Function `schedules`: the caller's schedules by id (they are made and listed under
/agents/{id}/schedules; the sweeper fires them)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from core.config import Settings
from core.http import RouteGroup
from core.http.app import function_entry
from core.models.schedules import Schedule
from core.models.users import User
from core.schemas.schedules import SchedulePublic, ScheduleUpdate
from core.services import schedules as service

routes = RouteGroup("schedules", description="agents run by cron")


@routes.get("/<uuid:schedule_id>", response=SchedulePublic)
def get_schedule(schedule_id: uuid.UUID, user: User, db: Session) -> Schedule:
    """One of your schedules: its next slot, its last run and why it stopped, if it did."""
    return service.get_schedule(db, user=user, schedule_id=schedule_id)


@routes.patch(
    "/<uuid:schedule_id>",
    body=ScheduleUpdate,
    response=SchedulePublic,
    responses={409: "the session is another agent's or archived"},
)
def update_schedule(
    schedule_id: uuid.UUID,
    body: ScheduleUpdate,
    user: User,
    db: Session,
    settings: Settings,
    now: datetime,
) -> Schedule:
    """Change it, pause it (`enabled: false`) or resume it (counted from now: slots missed
    while paused are not run)."""
    return service.update_schedule(
        db, user=user, schedule_id=schedule_id, data=body, settings=settings, now=now
    )


@routes.delete("/<uuid:schedule_id>", status=204)
def delete_schedule(schedule_id: uuid.UUID, user: User, db: Session) -> None:
    """No more runs; those it started stay, with their schedule_id."""
    service.delete_schedule(db, user=user, schedule_id=schedule_id)


entry = function_entry(lambda: routes)
