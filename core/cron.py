"""Cron times for schedules: 5 fields (minute hour day-of-month month day-of-week) read in an
IANA time zone by cronsim, with DST handled as cron does (a time skipped by a spring-forward
fires once at the change; one repeated in the fall fires once)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError


class BadCron(ValueError):
    """The expression or the time zone cannot be used; the message says why."""


def zone(name: str) -> ZoneInfo:
    """The IANA zone of that name. Only names of the zone list are zones: tzdata's folders
    (`America`, `Etc`) and the host's own `localtime` are not (ZoneInfo would try to read a
    folder, or answer whatever the server's clock is set to)."""
    if name not in zone_names():
        raise BadCron(f"unknown time zone {name!r} (an IANA name such as Europe/Paris)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise BadCron(f"unknown time zone {name!r} (an IANA name such as Europe/Paris)") from None


@functools.cache
def zone_names() -> frozenset[str]:
    return frozenset(available_timezones() - {"localtime", "posixrules", "Factory"})


def check(expression: str, timezone: str, now: datetime) -> datetime:
    """The first time the expression fires after `now` (UTC); BadCron when it is not five
    fields, does not parse, or never fires."""
    if len(expression.split()) != 5:
        raise BadCron("a cron expression has five fields: minute hour day month weekday")
    return next_after(expression, timezone, now)


def next_after(expression: str, timezone: str, after: datetime) -> datetime:
    """The first time strictly after `after` that the expression names, in UTC."""
    local = after.astimezone(zone(timezone))
    try:
        return next(iter(CronSim(expression, local))).astimezone(UTC)
    except CronSimError as exc:
        raise BadCron(f"invalid cron expression: {exc}") from None
    except StopIteration:
        raise BadCron("this cron expression never fires") from None


def latest_due(expression: str, timezone: str, now: datetime) -> datetime | None:
    """The last time at or before `now` that the expression names (UTC): the one slot to run
    after a downtime in which several went by."""
    local = (now + timedelta(seconds=1)).astimezone(zone(timezone))
    try:
        return next(iter(CronSim(expression, local, reverse=True))).astimezone(UTC)
    except (CronSimError, StopIteration):
        return None
