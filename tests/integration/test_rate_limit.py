"""RATE_LIMIT_PER_MINUTE through the API: a user's minute, whatever credential they use, the
RateLimit fields on every answer, 429 `rate_limited` with Retry-After once it is spent; the
count lives in PostgreSQL, where a second instance reads it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from core.errors import LimitReached
from core.services.rate_limits import RateLimiter, add_counts, limiter
from tests.support.api import assert_error, bearer, signed_up


def clear_of_a_minute_boundary(margin_s: float = 4.0) -> None:
    """The counts are per UTC minute: do not let one end in the middle of a test."""
    left = 60 - time.time() % 60
    if left < margin_s:
        time.sleep(left + 0.05)


@pytest.fixture
def five_a_minute(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from core.config import reset_settings

    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "5")
    reset_settings()
    clear_of_a_minute_boundary()
    yield
    monkeypatch.undo()
    reset_settings()
    limiter.forget()


def test_the_sixth_request_of_a_minute_is_refused_with_when_to_retry(client, five_a_minute):
    _, headers = signed_up(client)
    answers = [client.get("/users/me", headers=headers) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert [a.headers["RateLimit"].split(";")[1] for a in answers] == [
        "r=4", "r=3", "r=2", "r=1", "r=0"
    ]  # fmt: skip
    assert answers[0].headers["RateLimit-Policy"] == '"minute";q=5;w=60'
    refused = client.get("/users/me", headers=headers)
    assert_error(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit"].startswith('"minute";r=0;t=')


def test_an_api_key_shares_its_users_minute_and_errors_count_too(client, five_a_minute):
    _, headers = signed_up(client)
    made = client.post("/api-keys", headers=headers, json={"name": "ci", "scope": "read"})
    assert made.status_code == 201
    key = bearer(made.get_json()["key"])
    missing = f"/agents/{uuid.uuid4()}"
    statuses = [client.get(missing, headers=key).status_code for _ in range(3)]
    assert statuses == [404, 404, 404]  # an error still carries the fields
    assert client.get(missing, headers=key).headers["RateLimit"].startswith('"minute";r=0;')
    assert_error(client.get("/users/me", headers=headers), 429, "rate_limited")
    other = signed_up(client)[1]  # a budget per user
    assert client.get("/users/me", headers=other).status_code == 200


def test_a_request_without_a_valid_credential_is_no_ones_to_count(client, five_a_minute):
    refused = client.get("/users/me", headers=bearer("nope"))
    assert_error(refused, 401)
    assert "RateLimit" not in refused.headers


def test_a_second_instance_reads_what_the_first_counted_in_the_table(db: Any) -> None:
    clear_of_a_minute_boundary()
    user = uuid.uuid4()
    first, second = RateLimiter(add_counts), RateLimiter(add_counts)
    for _ in range(6):
        first.hit(user, 8)
    assert first.hit(user, 8).remaining == 1
    assert second.hit(user, 8).remaining == 0  # it asked the table before answering
    with pytest.raises(LimitReached):
        second.hit(user, 8)
    with pytest.raises(LimitReached):
        first.hit(user, 8)


def test_the_document_states_the_fields_on_every_authenticated_answer(client):
    document = client.get("/openapi.json").get_json()
    me = document["paths"]["/users/me"]["get"]["responses"]
    assert set(me["200"]["headers"]) == {"RateLimit", "RateLimit-Policy"}
    assert set(me["429"]["headers"]) == {"Retry-After", "RateLimit", "RateLimit-Policy"}
    assert "headers" not in document["paths"]["/health"]["get"]["responses"]["200"]
