"""Following a run or a session live: woken by PostgreSQL's notices (one listening connection
per process), never by a timer, resumable with Last-Event-ID, and still woken after the
listening connection was killed."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from core.db.notices import notices
from core.runs import following
from tests.integration.test_async_runs import sse_events, start_async
from tests.support.agents import create_agent
from tests.support.api import signed_up


class Follower:
    """Reads an SSE response in a thread, frame by frame, as it arrives."""

    def __init__(self, client: Any, path: str, headers: dict[str, str]) -> None:
        self.frames: list[dict[str, str]] = []
        self.done = threading.Event()
        self.response = client.get(
            path, headers={**headers, "Accept": "text/event-stream"}, buffered=False
        )
        assert self.response.status_code == 200
        assert self.response.mimetype == "text/event-stream"
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for chunk in self.response.response:
                text = chunk.decode() if isinstance(chunk, bytes) else chunk
                self.frames += sse_events(text)
        finally:
            self.done.set()

    def kinds(self) -> list[str]:
        return [f["event"] for f in self.frames]

    def wait_for(self, kind: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while kind not in self.kinds():
            assert time.monotonic() < deadline, f"no {kind} event: {self.kinds()}"
            time.sleep(0.01)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """When each follower read the log from the database."""
    times: list[float] = []
    read = following.Log.read

    def counted(self: following.Log, after: int) -> Any:
        times.append(time.monotonic())
        return read(self, after)

    monkeypatch.setattr(following.Log, "read", counted)
    return times


def test_an_idle_follower_reads_nothing_until_events_are_added(live, queue, worker_headers, reads):
    _, headers = signed_up(live)
    agent = create_agent(live, headers)
    execution = start_async(live, headers, agent["id"]).get_json()
    follower = Follower(live, f"/executions/{execution['id']}/events", headers)
    follower.wait_for("user_message")
    assert notices().listening.wait(5)
    time.sleep(0.2)
    before = len(reads)

    time.sleep(1.5)  # idle: the queued run writes nothing
    assert len(reads) == before

    started = time.monotonic()
    assert live.post(queue.tasks[0].path, headers=worker_headers).status_code == 200
    assert follower.done.wait(10)
    assert follower.kinds()[-1] == "end"
    assert "model_response" in follower.kinds()
    assert time.monotonic() - started < 5
    seqs = [int(f["id"]) for f in follower.frames if "id" in f]
    assert seqs == list(range(1, len(seqs) + 1))
    # the run's writes were a few commits: a few reads, not one per quarter second
    assert len(reads) - before <= 6


def test_a_session_is_followed_across_turns_and_resumed_after_last_event_id(live):
    _, headers = signed_up(live)
    agent = create_agent(live, headers)
    session = live.post("/sessions", headers=headers, json={"agent_id": agent["id"]}).get_json()
    path = f"/sessions/{session['id']}/events"
    follower = Follower(live, path, headers)
    for text in ("one", "two"):
        response = live.post(
            f"/sessions/{session['id']}/messages", headers=headers, json={"content": text}
        )
        assert response.status_code == 200
    deadline = time.monotonic() + 10
    while follower.kinds().count("user_message") < 2 or follower.kinds().count("status") < 2:
        assert time.monotonic() < deadline, follower.kinds()
        time.sleep(0.01)
    seqs = [int(f["id"]) for f in follower.frames]
    assert seqs == list(range(1, len(seqs) + 1))

    resumed = Follower(live, path, {**headers, "Last-Event-ID": str(seqs[2])})
    deadline = time.monotonic() + 10
    while len(resumed.frames) < len(seqs) - 3:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert [int(f["id"]) for f in resumed.frames] == seqs[3:]

    # deleting the session ends its followers
    assert live.delete(f"/sessions/{session['id']}", headers=headers).status_code == 204
    for stream in (follower, resumed):
        assert stream.done.wait(5)
        assert stream.kinds()[-1] == "end"


def test_many_followers_share_one_listening_connection(live, queue, worker_headers):
    _, headers = signed_up(live)
    agent = create_agent(live, headers)
    execution = start_async(live, headers, agent["id"]).get_json()
    followers = [
        Follower(live, f"/executions/{execution['id']}/events", headers) for _ in range(20)
    ]
    for follower in followers:
        follower.wait_for("user_message")
    assert live.post(queue.tasks[0].path, headers=worker_headers).status_code == 200
    for follower in followers:
        assert follower.done.wait(10)
        assert follower.kinds()[-1] == "end"
    listeners = [t for t in threading.enumerate() if t.name == "notices"]
    assert len(listeners) == 1


def test_followers_are_woken_after_the_listening_connection_is_killed(
    live, engine, queue, worker_headers
):
    _, headers = signed_up(live)
    agent = create_agent(live, headers)
    execution = start_async(live, headers, agent["id"]).get_json()
    follower = Follower(live, f"/executions/{execution['id']}/events", headers)
    follower.wait_for("user_message")
    assert notices().listening.wait(5)
    killed = notices().backend_pid
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": killed})
    deadline = time.monotonic() + 10
    while notices().backend_pid == killed or not notices().listening.is_set():
        assert time.monotonic() < deadline, "the listener did not reconnect"
        time.sleep(0.02)

    assert live.post(queue.tasks[0].path, headers=worker_headers).status_code == 200
    assert follower.done.wait(10)
    assert follower.kinds()[-1] == "end"


def test_a_listener_on_a_new_connection_of_the_services_engine_hears_every_notice(
    database_url: str,
) -> None:
    """The service's engine sets its quotas on each new connection; the driver opened a
    transaction for that, and a LISTEN inside it would wait for a COMMIT forever: a deaf
    listener, every follower asleep until the 600 s end of its stream."""
    import asyncio

    from core.config import get_settings
    from core.db.engine import build_engine
    from core.db.notices import CHANNEL, Notices

    engine = build_engine(get_settings())

    def fresh() -> Any:  # never a pooled one: a connection made for the listener
        made = engine.pool._creator()  # type: ignore[attr-defined]
        # the engine's connect events, as a new pooled connection gets them
        for listener in engine.pool.dispatch.connect:
            listener(made, None)
        return made

    listener = Notices(fresh)

    async def follow() -> int:
        heard = 0
        with listener.subscribe("a-run") as woken:
            assert await asyncio.to_thread(listener.listening.wait, 10)
            for _ in range(5):
                woken.clear()
                with engine.begin() as conn:
                    conn.execute(sa.text(f"SELECT pg_notify('{CHANNEL}', 'a-run')"))
                heard += await woken.wait(5)
        return heard

    try:
        assert asyncio.run(follow()) == 5
    finally:
        listener.stop()
        engine.dispose()
