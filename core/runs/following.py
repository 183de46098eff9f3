"""Following an event log live, as server-sent events: a run's (until it ends) or a session's
(until it is deleted). Any instance can serve a follower: it reads the log from the database,
and only when PostgreSQL says events were added (core.db.notices), never on a timer."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from core.errors import Invalid, field_error
from core.lazy import Lazy
from core.models.executions import AgentExecution, ExecutionStatus
from core.models.sessions import AgentSession, Event

KEEPALIVE_S = 15.0
MAX_S = 600.0  # then the stream ends and the client reconnects with Last-Event-ID
BATCH = 200


@dataclass(frozen=True)
class Log:
    """Whose events: one execution's or one session's."""

    execution_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None

    @property
    def key(self) -> str:
        return str(self.execution_id or self.session_id)

    def read(self, after: int) -> tuple[list[Any], str | None, bool]:
        """The next events after seq `after`, and whether the log is over (with the run's
        status): one transaction, so a terminal status comes with every event before it."""
        from core.db import transaction

        with transaction() as db:
            if self.execution_id is not None:
                owner = Event.execution_id == self.execution_id
                status = db.scalar(
                    select(AgentExecution.status).where(AgentExecution.id == self.execution_id)
                )
                over = status is None or ExecutionStatus(status).is_terminal
            else:
                owner = Event.session_id == self.session_id
                status = None
                over = db.get(AgentSession, self.session_id) is None
            rows = db.execute(
                select(Event.seq, Event.type, Event.payload, Event.created_at)
                .where(owner, Event.seq > after)
                .order_by(Event.seq)
                .limit(BATCH)
            ).all()
        return list(rows), None if status is None else str(status), over


MAX_SEQ = 2**63 - 1  # a seq is a bigint


def resume_after(last_event_id: str | None) -> int:
    """The seq a stream resumes after (`Last-Event-ID`), 0 from the start: a whole number no
    bigint outgrows (a larger one is a 422 here, not a failed read mid-stream)."""
    text = (last_event_id or "").strip()
    if not text:
        return 0
    if not text.isdecimal() or not text.isascii() or int(text) > MAX_SEQ:
        raise Invalid(
            "Last-Event-ID must be the seq of an event",
            details=[
                field_error(
                    ["header", "Last-Event-ID"], f"a whole number up to {MAX_SEQ}", "int_parsing"
                )
            ],
        )
    return int(text)


async def follow(log: Log, after: int) -> AsyncIterator[str]:
    """The log's events after seq `after` as SSE frames (`id` is the seq), then `end` when it
    is over; a keep-alive comment every KEEPALIVE_S of silence. It waits on its event loop
    (a notice wakes it; no thread is held), and reads on the stream-read pool."""
    from core.db.notices import notices

    yield "retry: 1000\n\n"  # a follower that drops reconnects with Last-Event-ID
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + MAX_S
    with notices().subscribe(log.key) as woken:
        while True:
            woken.clear()  # before the read: a notice during it wakes the next wait
            rows, status, over = await loop.run_in_executor(_reads.get(), log.read, after)
            for seq, kind, payload, created_at in rows:
                after = seq
                yield frame(
                    kind,
                    {
                        "seq": seq,
                        "type": kind,
                        "payload": payload,
                        "created_at": created_at.isoformat(),
                    },
                    seq,
                )
            if len(rows) == BATCH:
                continue
            if over:
                yield frame("end", {"status": status})
                return
            # asleep until a notice: a keep-alive now and then, and no read
            while not await woken.wait(min(KEEPALIVE_S, max(0.0, deadline - time.monotonic()))):
                if time.monotonic() >= deadline:
                    return
                yield ": keep-alive\n\n"


# followers' reads, apart from the request threads: a few at a time, however many follow
READ_THREADS = 4
_reads = Lazy(lambda: ThreadPoolExecutor(READ_THREADS, thread_name_prefix="stream-read"))


def frame(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"
