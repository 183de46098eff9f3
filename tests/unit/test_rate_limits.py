"""The request budget per user (core.services.rate_limits) on a clock moved by hand, with a
dict standing for the table every instance shares."""

from __future__ import annotations

import threading
import uuid

import pytest

from core.errors import LimitReached
from core.services.rate_limits import Counts, RateLimiter, Verdict


class Table:
    """request_counts: adds what an instance sends and answers the totals."""

    def __init__(self) -> None:
        self.rows: Counts = {}
        self.syncs = 0
        self.down = False

    def add(self, counts: Counts) -> Counts:
        if self.down:
            raise ConnectionError("the database is away")
        self.syncs += 1
        for key, n in counts.items():
            self.rows[key] = self.rows.get(key, 0) + n
        return {key: self.rows[key] for key in counts}


class Clock:
    def __init__(self, now: float = 1_800_000_030.0) -> None:  # 30 s before a minute ends
        self.now = now

    def __call__(self) -> float:
        return self.now


def allowed(limiter: RateLimiter, user: uuid.UUID, limit: int, n: int) -> int:
    ok = 0
    for _ in range(n):
        try:
            limiter.hit(user, limit)
            ok += 1
        except LimitReached:
            pass
    return ok


def test_a_users_minute_allows_the_limit_then_says_when_to_retry():
    clock, user = Clock(), uuid.uuid4()
    limiter = RateLimiter(Table().add, clock)
    left = [limiter.hit(user, 5).remaining for _ in range(5)]
    assert left == [4, 3, 2, 1, 0]
    with pytest.raises(LimitReached) as refused:
        limiter.hit(user, 5)
    assert refused.value.code == "rate_limited"
    assert refused.value.retry_after_s == 30
    assert refused.value.verdict == Verdict(limit=5, remaining=0, reset_s=30)
    assert allowed(limiter, uuid.uuid4(), 5, 5) == 5  # another user has their own minute
    clock.now += 30  # the next minute
    assert limiter.hit(user, 5).remaining == 4


def test_an_instance_learns_what_the_others_counted_before_answering_a_new_user():
    table, clock, user = Table(), Clock(), uuid.uuid4()
    first, second = RateLimiter(table.add, clock), RateLimiter(table.add, clock)
    assert allowed(first, user, 10, 7) == 7
    clock.now += 1  # the first instance sends its count
    assert first.hit(user, 10).remaining == 2
    assert allowed(second, user, 10, 5) == 2  # it asked the table before its first answer
    assert sum(table.rows.values()) <= 10 + 1  # one refused hit may have been sent with it


def test_across_instances_the_overshoot_is_at_most_a_second_of_the_others():
    table, clock, user = Table(), Clock(), uuid.uuid4()
    instances = [RateLimiter(table.add, clock) for _ in range(3)]
    let_through = 0
    for _ in range(20):  # 20 s of one minute, every instance hit 10 times a second
        for instance in instances:
            let_through += allowed(instance, user, 100, 10)
        clock.now += 1
    # each instance learns the others' counts at least once a second: beyond the budget it can
    # let through only what it had counted itself since its last sync, about a tenth of it
    assert 100 <= let_through <= 100 + 2 * 10


def test_counts_are_kept_while_the_table_is_away_and_sent_when_it_is_back():
    table, clock, user = Table(), Clock(), uuid.uuid4()
    limiter = RateLimiter(table.add, clock)
    table.down = True
    assert allowed(limiter, user, 50, 8) == 8
    table.down = False
    clock.now += 1
    limiter.hit(user, 50)
    assert sum(table.rows.values()) == 9


def test_a_process_busy_with_syncs_sends_them_once_a_second_not_per_request():
    table, clock, user = Table(), Clock(), uuid.uuid4()
    limiter = RateLimiter(table.add, clock)
    allowed(limiter, user, 10_000, 500)
    assert table.syncs == 1  # the first sight of the user
    clock.now += 1
    allowed(limiter, user, 10_000, 500)
    assert table.syncs == 2
    assert table.rows == {(user, int(clock.now // 60)): 501}  # the first, then 500 at once


def test_parallel_requests_on_one_instance_get_exactly_the_budget():
    table, user = Table(), uuid.uuid4()
    limiter = RateLimiter(table.add, Clock())
    results: list[int] = []
    start = threading.Barrier(8)

    def client() -> None:
        start.wait()
        results.append(allowed(limiter, user, 300, 100))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 300
