"""Schedules: an agent run by cron for its owner, each due slot one async execution.

The sweeper (Cloud Scheduler every minute; `make dev` every SWEEP_INTERVAL_S) fires what is
due (`fire_due`). Each schedule is taken under a row lock that other sweepers skip; its
next_run_at moves past now in the transaction whose COMMIT carries the run's INSERT, and the
run's idempotency key names the (schedule, slot), so a slot is one execution however many
sweepers run at once, or crash between the two. After a downtime the slots that went by are run
once, as their latest, not once each. A run starts the one way every run starts
(core.runs.starting), as its owner: a slot refused for a while (a quota, a busy session) is
skipped and recorded in last_error; one refused because the owner can no longer run the agent
(it is deleted, unshared, deactivated; the session is gone; the owner is deactivated) stops
the schedule with its reason."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Literal, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import cron
from core.access.agents import Access, agent_for
from core.config import Settings
from core.errors import Conflict, DomainError, Invalid, NotFound, field_error
from core.models.schedules import Schedule
from core.models.sessions import AgentSession
from core.models.users import User
from core.pagination import Keyset, Page
from core.patch import patch
from core.runs.backends import Backends
from core.schemas.agents import ExecuteRequest
from core.schemas.common import PageQuery
from core.schemas.schedules import ScheduleCreate, ScheduleUpdate

log = logging.getLogger(__name__)

SCHEDULES_ORDER = Keyset((Schedule.created_at, Schedule.id), descending=True)
MAX_SCHEDULES_PER_USER = 100
FIRE_BATCH = 200  # due schedules one sweep looks at; the rest wait for the next sweep
# refusals that pass: the slot is skipped, the schedule goes on
PASSING = {"quota_exceeded", "session_busy", "start_conflict"}


def create_schedule(
    db: Session,
    *,
    user: User,
    agent_id: uuid.UUID,
    data: ScheduleCreate,
    settings: Settings,
    now: datetime,
) -> Schedule:
    agent = agent_for(db, user, agent_id, Access.execute)
    if data.session_id is not None:
        _session_of(db, user, data.session_id, agent.id)
    if isinstance(data.input, list):
        from core.runs.input_files import check_input_files

        check_input_files(db, user.id, data.input, settings)
    first = _first_slot(data.cron, data.timezone, now)
    held = db.scalar(select(func.count()).where(Schedule.user_id == user.id))
    if (held or 0) >= MAX_SCHEDULES_PER_USER:
        raise Conflict(
            f"you have {MAX_SCHEDULES_PER_USER} schedules, the most one may have; delete one",
            code="schedule_limit",
        )
    schedule = Schedule(
        id=uuid.uuid4(),
        user_id=user.id,
        agent_id=agent.id,
        session_id=data.session_id,
        cron=_spaced(data.cron),
        timezone=data.timezone,
        input=data.input,
        enabled=data.enabled,
        next_run_at=first if data.enabled else None,
    )
    db.add(schedule)
    db.flush()
    return schedule


def list_schedules(
    db: Session, *, user: User, agent_id: uuid.UUID, query: PageQuery
) -> Page[Schedule]:
    """The caller's own schedules of an agent they can see."""
    agent_for(db, user, agent_id, Access.read)
    stmt = select(Schedule).where(Schedule.user_id == user.id, Schedule.agent_id == agent_id)
    return SCHEDULES_ORDER.fetch(db, stmt, query.cursor, query.limit)


def get_schedule(db: Session, *, user: User, schedule_id: uuid.UUID) -> Schedule:
    schedule = db.scalar(
        select(Schedule).where(Schedule.id == schedule_id, Schedule.user_id == user.id)
    )
    if schedule is None:  # another user's too: it is not theirs to know about
        raise NotFound("no such schedule", code="schedule_not_found")
    return schedule


def update_schedule(
    db: Session,
    *,
    user: User,
    schedule_id: uuid.UUID,
    data: ScheduleUpdate,
    settings: Settings,
    now: datetime,
) -> Schedule:
    """Change what is given. Enabling (again) checks that the owner may still run the agent,
    clears a stop's reason and counts from now: slots missed while off are not run."""
    schedule = get_schedule(db, user=user, schedule_id=schedule_id)
    given = data.model_fields_set
    if data.cron is not None:
        schedule.cron = _spaced(data.cron)
    if data.input is not None:
        if isinstance(data.input, list):
            from core.runs.input_files import check_input_files

            check_input_files(db, user.id, data.input, settings)
        schedule.input = data.input
    if "session_id" in given:
        schedule.session_id = data.session_id
    patch(schedule, data, "timezone", "enabled")
    if {"cron", "timezone"} & given:  # checked when given, enabled or not
        _first_slot(schedule.cron, schedule.timezone, now)
    if data.session_id is not None and not schedule.enabled:
        _session_of(db, user, data.session_id, schedule.agent_id)
    if schedule.enabled:
        agent = agent_for(db, user, schedule.agent_id, Access.execute)
        if schedule.session_id is not None:
            _session_of(db, user, schedule.session_id, agent.id)
        first = _first_slot(schedule.cron, schedule.timezone, now)
        if data.enabled or {"cron", "timezone"} & given or schedule.next_run_at is None:
            schedule.next_run_at = first
        schedule.stopped_reason = None
    else:
        schedule.next_run_at = None
    schedule.updated_at = now
    db.flush()
    return schedule


def delete_schedule(db: Session, *, user: User, schedule_id: uuid.UUID) -> None:
    """Its runs stay, with their schedule_id."""
    db.delete(get_schedule(db, user=user, schedule_id=schedule_id))
    db.flush()


def fire_due(backends: Backends) -> dict[str, int]:
    """Start one async execution for every due schedule (the sweeper's part)."""

    now = backends.clock.now()
    counts = {"fired": 0, "skipped": 0, "stopped": 0}
    with backends.unit_of_work() as db:
        due = db.scalars(
            select(Schedule.id)
            .where(Schedule.enabled, Schedule.next_run_at <= now)
            .order_by(Schedule.next_run_at)
            .limit(FIRE_BATCH)
        ).all()
    for schedule_id in due:
        try:
            outcome = _fire(schedule_id, backends, now)
        except Exception:  # one schedule's failure must not hold up the others
            log.exception("schedule %s could not fire", schedule_id)
            continue
        if outcome is not None:
            counts[outcome] += 1
    return counts


def _fire(schedule_id: uuid.UUID, backends: Backends, now: datetime) -> str | None:
    from core.access.callers import Caller
    from core.runs.starting import start_run

    with backends.unit_of_work() as db:
        schedule = db.scalar(
            select(Schedule)
            .where(Schedule.id == schedule_id, Schedule.enabled, Schedule.next_run_at <= now)
            .with_for_update(skip_locked=True)
        )
        if schedule is None:  # another sweeper has it, or fired it already
            return None
        slot, following, key = firing(schedule, now)
        user_id, agent_id, session_id = schedule.user_id, schedule.agent_id, schedule.session_id
        # sent now, committed with the run's INSERT
        schedule.next_run_at = following
        schedule.last_run_at = slot
        schedule.last_error = None
        db.flush()
        request = ExecuteRequest(
            input=schedule.input,
            mode="async",
            idempotency_key=key,
            **({} if session_id is None else {"session_id": session_id}),
        )
        try:
            execution = start_run(
                db,
                caller=Caller(user_id),
                agent_id=agent_id,
                data=request,
                backends=backends,
                schedule_id=schedule_id,
            )
        except DomainError as refused:
            db.rollback()
            return _refused(backends, schedule_id, refused, slot, following, now)
        execution_id = execution.id
    with backends.unit_of_work() as db:  # the run is started whatever happens here
        schedule = db.get(Schedule, schedule_id)
        if schedule is not None:
            schedule.next_run_at = following if schedule.enabled else None
            schedule.last_run_at, schedule.last_execution_id = slot, execution_id
    return "fired"


def _refused(
    backends: Backends,
    schedule_id: uuid.UUID,
    refused: DomainError,
    slot: datetime,
    following: datetime | None,
    now: datetime,
) -> str:

    reason = {"code": refused.code, "message": refused.message, "at": now.isoformat()}
    with backends.unit_of_work() as db:
        schedule = db.get(Schedule, schedule_id, with_for_update=True)
        if schedule is None:
            return "skipped"
        if outcome_of_refusal(refused.code) == "skipped":
            schedule.next_run_at = following
            schedule.last_error = {**reason, "slot": slot.isoformat()}
            outcome = "skipped"
        else:
            schedule.enabled, schedule.next_run_at = False, None
            schedule.stopped_reason = reason
            outcome = "stopped"
        schedule.updated_at = now
    log.info("schedule %s %s at %s: %s", schedule_id, outcome, slot, refused.code)
    return outcome


class Firing(NamedTuple):
    slot: datetime  # the time this run stands for
    following: datetime | None  # the next time to fire (None: the cron no longer reads)
    idempotency_key: str  # one run per slot, however many sweepers see it due


def firing(schedule: Schedule, now: datetime) -> Firing:
    """A due schedule fires once for the latest slot that went by (slots missed while the
    service was down are not run one by one), and next fires after `now`."""
    assert schedule.next_run_at is not None
    slot = max(
        cron.latest_due(schedule.cron, schedule.timezone, now) or schedule.next_run_at,
        schedule.next_run_at,
    )
    key = f"schedule:{schedule.id}:{slot:%Y-%m-%dT%H:%MZ}"
    return Firing(slot, _following_slot(schedule, now), key)


def outcome_of_refusal(code: str) -> Literal["skipped", "stopped"]:
    """A slot refused for a passing reason (a quota, a busy session) is skipped and the schedule
    goes on; any other refusal (the agent gone, access lost) stops it, saying why."""
    return "skipped" if code in PASSING else "stopped"


def _following_slot(schedule: Schedule, now: datetime) -> datetime | None:
    try:
        return cron.next_after(schedule.cron, schedule.timezone, now)
    except cron.BadCron:  # the cron library no longer reads it: stop rather than loop
        return None


def _first_slot(expression: str, timezone: str, now: datetime) -> datetime:
    try:
        cron.zone(timezone)
    except cron.BadCron as exc:
        detail = field_error(["body", "timezone"], str(exc), "timezone")
        raise Invalid(str(exc), details=[detail]) from None
    try:
        return cron.check(expression, timezone, now)
    except cron.BadCron as exc:
        raise Invalid(str(exc), details=[field_error(["body", "cron"], str(exc), "cron")]) from None


def _spaced(expression: str) -> str:
    return " ".join(expression.split())


def _session_of(
    db: Session, user: User, session_id: uuid.UUID, agent_id: uuid.UUID
) -> AgentSession:
    """The caller's session of the agent, open for turns (a schedule's runs are its turns).
    The body names it: one that is not the caller's is a 409 naming `session_id`, as one of
    another agent or archived is (the schedule's own URL was found: not a 404)."""
    from core.runs.session_rules import check_open, own_session

    try:
        session = own_session(db, user.id, session_id)
    except NotFound:
        raise Conflict(
            "no such session of yours",
            code="session_not_found",
            details=[
                field_error(["body", "session_id"], "not one of your sessions", "session_not_found")
            ],
        ) from None
    check_open(session, agent_id)
    return session
