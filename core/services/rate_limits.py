"""Request rate per user (RATE_LIMIT_PER_MINUTE), shared by every instance through PostgreSQL.

A user's requests are counted in fixed windows of one UTC minute, whatever credential they
carry (access tokens and every API key of theirs share one budget: making keys does not buy
rate). Each instance counts in memory and adds its counts to `request_counts` with one UPSERT
for all its users, which answers what every instance has counted so far. It does so for a user
it has not seen this minute before answering, and for everyone at most once a second or when a
user has spent a tenth of the budget here since. So the budget is exact on one instance, and
across instances a user gets at most what the others let through in their last second on top.

Not counted: requests refused here, and those without a valid credential (Cloud Armor limits
those per address in front of the load balancer)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, text

from core.errors import LimitReached
from core.models.users import RequestCount

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

WINDOW_S = 60
SYNC_EVERY_S = 1.0
POLICY = "minute"

# (user, window) → requests counted there by every instance so far
Counts = dict[tuple[uuid.UUID, int], int]
Sync = Callable[[Counts], Counts]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a request learns of its user's budget (the RateLimit header fields)."""

    limit: int
    remaining: int
    reset_s: int


@dataclass(slots=True)
class _Window:
    number: int
    known: int = 0  # counted by every instance, as of this instance's last sync
    sending: int = 0  # counted here, on its way to the table
    pending: int = 0  # counted here since

    @property
    def used(self) -> int:
        return self.known + self.sending + self.pending


@dataclass
class RateLimiter:
    """One per process (`limiter`); `sync` adds counts to the shared table and answers the
    totals (tests give two limiters one table to play two instances)."""

    sync: Sync
    clock: Callable[[], float] = time.time
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _windows: dict[uuid.UUID, _Window] = field(default_factory=dict)
    _syncing: bool = False
    _synced_at: float = float("-inf")

    def hit(self, user_id: uuid.UUID, limit: int) -> Verdict:
        """Count one request of the user's; 429 `rate_limited` (with Retry-After and the
        RateLimit fields) when the minute's budget is spent."""
        now = self.clock()
        number = int(now // WINDOW_S)
        reset_s = max(1, int((number + 1) * WINDOW_S - now + 0.999))
        with self._lock:
            window = self._windows.get(user_id)
            first = window is None or window.number != number
            if window is None or window.number != number:
                window = self._windows[user_id] = _Window(number)
            if window.used >= limit:
                raise _refused(limit, reset_s)
            window.pending += 1
            due = first or window.pending * 10 >= limit or now - self._synced_at >= SYNC_EVERY_S
            batch = self._take_pending(now) if due else None
        if batch is not None:
            self._send(batch, number)
        with self._lock:
            used = window.used
        if batch is not None and used > limit:  # the other instances had spent it
            raise _refused(limit, reset_s)
        return Verdict(limit, max(0, limit - used), reset_s)

    def _take_pending(self, now: float) -> Counts | None:
        """Under the lock: what to send, unless another thread is sending now."""
        if self._syncing:
            return None
        self._syncing, self._synced_at = True, now
        batch: Counts = {}
        for user_id, window in self._windows.items():
            if window.pending:
                batch[(user_id, window.number)] = window.pending
                window.sending, window.pending = window.sending + window.pending, 0
        return batch

    def _send(self, batch: Counts, current: int) -> None:
        totals: Counts | None = None
        try:
            totals = self.sync(batch) if batch else {}
        except Exception:  # the database is away: keep counting here, send it next time
            log.warning("could not share the request counts; counting locally", exc_info=True)
        with self._lock:
            self._syncing = False
            for (user_id, number), sent in batch.items():
                window = self._windows.get(user_id)
                if window is None or window.number != number:
                    continue
                window.sending -= sent
                if totals is None:
                    window.pending += sent
                else:
                    window.known = max(window.known, totals.get((user_id, number), 0))
            for user_id in [u for u, w in self._windows.items() if w.number < current]:
                del self._windows[user_id]

    def forget(self) -> None:
        with self._lock:
            self._windows.clear()
            self._synced_at = float("-inf")


class RateLimited(LimitReached):
    """The caller's minute is spent: what is left of it (none) goes with the error."""

    code = "rate_limited"

    def __init__(self, limit: int, reset_s: int) -> None:
        super().__init__(
            f"more than {limit} requests this minute; retry in {reset_s} s", retry_after_s=reset_s
        )
        self.verdict = Verdict(limit, 0, reset_s)


def _refused(limit: int, reset_s: int) -> RateLimited:
    return RateLimited(limit, reset_s)


_ADD = text(
    """
    INSERT INTO request_counts (user_id, window_start, requests)
    SELECT u, to_timestamp(w * :window_s), n
    FROM unnest(CAST(:users AS uuid[]), CAST(:windows AS bigint[]), CAST(:counts AS int[]))
        AS t(u, w, n)
    ORDER BY u
    ON CONFLICT (user_id, window_start)
        DO UPDATE SET requests = request_counts.requests + excluded.requests
    RETURNING user_id, CAST(extract(epoch FROM window_start) AS bigint) / :window_s, requests
    """
)


def add_counts(counts: Counts) -> Counts:
    """The UPSERT every instance shares (ordered by user: two instances never deadlock)."""
    from core.db import core_transaction, then_commit

    keys = sorted(counts)
    params = {
        "users": [str(user_id) for user_id, _ in keys],
        "windows": [number for _, number in keys],
        "counts": [counts[key] for key in keys],
        "window_s": WINDOW_S,
    }
    with core_transaction() as db:
        rows = db.execute(_ADD.execution_options(**then_commit(relaxed=True)), params).all()
    return {(uuid.UUID(str(user_id)), int(number)): int(n) for user_id, number, n in rows}


def prune_request_counts(db: Session, *, now: datetime) -> int:
    """Forget the windows before the previous minute (run from the sweeper)."""
    before = (int(now.timestamp() // WINDOW_S) - 1) * WINDOW_S
    result = db.execute(
        delete(RequestCount).where(RequestCount.window_start < datetime.fromtimestamp(before, UTC))
    )
    return int(getattr(result, "rowcount", 0) or 0)


limiter = RateLimiter(add_counts)
