"""When a schedule fires and what a refusal does to it, on rows held in memory: no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from core.models.schedules import Schedule
from core.services.schedules import firing, outcome_of_refusal

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _every(cron: str, due: datetime, timezone: str = "UTC") -> Schedule:
    return Schedule(id=uuid.uuid4(), cron=cron, timezone=timezone, next_run_at=due, enabled=True)


def test_after_a_downtime_only_the_latest_missed_slot_runs_and_the_next_is_ahead() -> None:
    schedule = _every("*/5 * * * *", due=NOON - timedelta(minutes=30))
    fired = firing(schedule, NOON + timedelta(minutes=2))
    assert fired.slot == NOON
    assert fired.following == NOON + timedelta(minutes=5)


def test_two_sweepers_seeing_one_slot_name_the_same_run() -> None:
    schedule = _every("0 * * * *", due=NOON)
    first = firing(schedule, NOON + timedelta(seconds=3))
    second = firing(schedule, NOON + timedelta(seconds=40))
    assert first.idempotency_key == second.idempotency_key
    assert firing(schedule, NOON + timedelta(hours=1)).idempotency_key != first.idempotency_key


def test_a_slot_is_read_in_the_schedules_time_zone() -> None:
    schedule = _every("0 9 * * *", due=NOON - timedelta(days=1), timezone="Europe/Paris")
    fired = firing(schedule, NOON)
    assert fired.slot == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # 09:00 in Paris (UTC+1)
    assert fired.following == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)


def test_a_passing_refusal_skips_the_slot_and_any_other_stops_the_schedule() -> None:
    assert outcome_of_refusal("quota_exceeded") == "skipped"
    assert outcome_of_refusal("session_busy") == "skipped"
    assert outcome_of_refusal("agent_not_found") == "stopped"
    assert outcome_of_refusal("insufficient_access") == "stopped"
