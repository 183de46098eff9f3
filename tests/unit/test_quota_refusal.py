"""What a start refused by a quota answers, from the database's error alone: no database."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.exc import DBAPIError

from core.runs.quotas import QUOTA_SQLSTATE, quota_refusal


def _refused(message: str, code: str = QUOTA_SQLSTATE) -> DBAPIError:
    # pg8000 raises with the server's error fields as a dict: C is the SQLSTATE, M the message
    return DBAPIError("INSERT ...", {}, Exception({"C": code, "M": message}))


NOW = datetime(2026, 3, 1, 18, 30, tzinfo=UTC)


def test_concurrent_runs_refused_say_the_limit_and_to_retry_soon() -> None:
    refused = quota_refusal(_refused("max_concurrent_runs 4"), NOW)
    assert refused is not None
    assert refused.code == "quota_exceeded"
    assert refused.details[0]["loc"] == ["quota", "max_concurrent_runs"]
    assert "4 runs unfinished" in refused.message
    assert refused.retry_after_s == 10


def test_a_spent_day_is_retried_at_the_next_utc_midnight() -> None:
    refused = quota_refusal(_refused("daily_tokens 1000"), NOW)
    assert refused is not None
    assert refused.details[0]["loc"] == ["quota", "daily_tokens"]
    assert refused.retry_after_s == 5 * 3600 + 30 * 60


def test_another_database_error_is_not_a_quota() -> None:
    assert quota_refusal(_refused("duplicate key", code="23505"), NOW) is None
    assert quota_refusal(DBAPIError("INSERT ...", {}, Exception("gone")), NOW) is None
