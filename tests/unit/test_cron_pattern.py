"""The cron pattern the document states (core.cron.PATTERN) is what the service takes: every
expression it matches fires, but for days, months and weekdays that never meet (30 February;
the last weekday of the month on weekends, `LW * */6`; the 1st or 21st on a last Sunday,
`*/20 * 0L`: a field starting with `*` narrows the other rather than adding to it), which a
pattern of single fields does not see; each field alone fires. The usual spellings match it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.cron import PATTERN, BadCron, check

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@settings(max_examples=120, deadline=None)
@given(st.from_regex(PATTERN, fullmatch=True))
def test_every_expression_the_pattern_allows_fires(expression: str) -> None:
    try:
        check(expression, "UTC", NOW)
    except BadCron:  # the fields never meet: each alone fires
        minute, hour, day, month, weekday = expression.split(" ")
        for alone in (f"{day} * *", f"* {month} *", f"* * {weekday}"):
            check(f"{minute} {hour} {alone}", "UTC", NOW)


@pytest.mark.parametrize(
    "expression",
    [
        "* * * * *",
        "0 9 * * 1-5",
        "*/15 9-17 * * MON-fri",
        "0 0 L * *",
        "0 0 * * 5#2",
        "30 4 1,15 * *",
        "0 0 1 jan-Mar *",
        "0 12 * * 7",
        "5/15 * * * *",
        "0 0 LW * *",
    ],
)
def test_the_usual_spellings_match(expression: str) -> None:
    assert re.fullmatch(PATTERN, expression)
    check(expression, "UTC", NOW)


@pytest.mark.parametrize(
    "expression", ["5-2 * * * *", "60 * * * *", "*/0 * * * *", "0 0 ? * *", " 0 0 * * *"]
)
def test_what_cron_refuses_the_pattern_refuses(expression: str) -> None:
    assert not re.fullmatch(PATTERN, expression)
