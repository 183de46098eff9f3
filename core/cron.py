"""Cron times for schedules: 5 fields (minute hour day-of-month month day-of-week) read in an
IANA time zone by cronsim, with DST handled as cron does (a time skipped by a spring-forward
fires once at the change; one repeated in the fall fires once)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError


def _numbers(lo: int, hi: int) -> str:
    """A regex for the integers lo..hi (at most two digits), written without leading zeros."""
    parts = []
    if lo <= 9:
        parts.append(f"[{lo}-{min(hi, 9)}]")
    for tens in range(max(1, lo // 10), hi // 10 + 1):
        first = lo % 10 if tens == lo // 10 else 0
        last = hi % 10 if tens == hi // 10 else 9
        parts.append(f"{tens}[{first}-{last}]")
    return "|".join(parts)


def _name(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" for c in word)


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def _field(lo: int, hi: int, names: dict[int, str], extras: tuple[str, ...] = ()) -> str:
    """One field: `*`, values, ascending ranges, steps (`/1`..`/99`), comma-separated."""

    def at_least(low: int) -> str:
        return "|".join([_numbers(low, hi), *(_name(w) for v, w in names.items() if v >= low)])

    value = at_least(lo)
    ranges = "|".join(
        f"(?:{token})-(?:{at_least(low)})"
        for low in range(lo, hi + 1)
        for token in ([str(low)] + ([_name(names[low])] if low in names else []))
    )
    step = "/[1-9][0-9]?"
    item = f"\\*(?:{step})?|(?:{ranges})(?:{step})?|(?:{value})(?:{step})?"
    item = "|".join([item, *extras])
    return f"(?:{item})(?:,(?:{item}))*"


# What the service takes, whole (the document states it; cronsim reads it): five fields, one
# space apart, numbers without leading zeros, names in any case, ranges that ascend; `L` and
# `LW` in the day of the month, `<d>L` and `<d>#<1-5>` in the day of the week. A day that no
# month named has (`0 0 30 2 *`) is still a 422 the pattern cannot see.
PATTERN = (
    "^"
    + " ".join(
        [
            _field(0, 59, {}),
            _field(0, 23, {}),
            _field(1, 31, {}, ("L", "LW")),
            _field(1, 12, dict(enumerate(_MONTHS, start=1))),
            _field(0, 7, dict(enumerate(_DAYS)), ("[0-7]L", "[0-7]#[1-5]")),
        ]
    )
    + "$"
)


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
