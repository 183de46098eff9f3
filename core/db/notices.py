"""Event notices pushed by PostgreSQL: one LISTEN connection per process, shared by every live
follower of a run or a session in it.

Each statement that adds events notifies channel `run_events` once per owner, with the payload
"<execution_id> <session_id>" (migration 0008), at commit. A listener thread waits on its
connection's socket and wakes the followers subscribed to either id; they then read the new
events from the database themselves, so a notice carries nothing that must not be lost: when the
connection drops, every follower is woken once it is back, and reads what it missed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from core.lazy import Lazy

log = logging.getLogger(__name__)

CHANNEL = "run_events"
# with no notice for this long the connection is checked with a query (it may have died quietly)
CHECK_IDLE_S = 30.0
RECONNECT_S = (0.5, 10.0)
MAX_QUEUED = 10_000


class Wakeup:
    """What a follower waits on, on its own event loop: set from the listener's thread whenever
    a notice names what it follows. It holds no thread while it waits. Clear it before reading,
    so a notice that arrives during the read wakes the next wait."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()

    def set(self) -> None:
        """From any thread."""
        with contextlib.suppress(RuntimeError):  # its loop closed: the follower is gone
            self._loop.call_soon_threadsafe(self._event.set)

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, timeout_s: float) -> bool:
        """True when woken within `timeout_s`."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._event.wait()
        except TimeoutError:
            return False
        return True


class Notices:
    """The subscriptions of this process's followers, and the thread that wakes them."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect  # a new pg8000 DB-API connection, ours alone
        self._lock = threading.Lock()
        self._waiting: dict[str, set[Wakeup]] = {}
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self.listening = threading.Event()
        self.backend_pid: int | None = None  # the listening connection's server process
        self.connections = 0  # listening connections made so far (tests and benchmarks)
        self.wakes_all = 0  # every follower woken at once (after each connect)

    @contextmanager
    def subscribe(self, *ids: str) -> Iterator[Wakeup]:
        """A wake-up (of the running event loop) set whenever events are added for any of
        `ids` (execution or session ids), and when the listener reconnects."""
        woken = Wakeup(asyncio.get_running_loop())
        with self._lock:
            for key in ids:
                self._waiting.setdefault(key, set()).add(woken)
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, name="notices", daemon=True)
                self._thread.start()
        try:
            yield woken
        finally:
            with self._lock:
                for key in ids:
                    waiting = self._waiting.get(key)
                    if waiting is not None:
                        waiting.discard(woken)
                        if not waiting:
                            del self._waiting[key]

    def stop(self) -> None:
        self._stopped.set()

    def _wake(self, keys: Iterator[str] | None) -> None:
        with self._lock:
            if keys is None:
                targets = {event for events in self._waiting.values() for event in events}
            else:
                targets = {event for key in keys for event in self._waiting.get(key, ())}
        for event in targets:
            event.set()

    def _listen(self) -> None:
        pause = RECONNECT_S[0]
        while not self._stopped.is_set():
            conn = None
            connected_at = None
            try:
                conn = self._connect()
                if getattr(conn, "_in_transaction", False):
                    conn.rollback()  # LISTEN inside a transaction waits for its COMMIT
                conn.autocommit = True
                conn.notifications = deque(maxlen=MAX_QUEUED)
                cursor = conn.cursor()
                cursor.execute(f"LISTEN {CHANNEL}")
                cursor.execute("SELECT pg_backend_pid()")
                self.backend_pid = cursor.fetchone()[0]
                self.connections += 1
                connected_at = time.monotonic()
                self.listening.set()
                self.wakes_all += 1
                self._wake(None)  # whatever was added while nobody listened
                self._serve(conn, cursor)
            except Exception:
                if self._stopped.is_set():
                    return
                log.warning("the event notice listener lost its connection; reconnecting")
            finally:
                self.listening.clear()
                if conn is not None:
                    with contextlib.suppress(Exception):  # it is gone already
                        conn.close()
            # a connection that served a while earns a quick reconnect; one that died at once
            # (or never came) backs off, up to RECONNECT_S[1]
            if connected_at is not None and time.monotonic() - connected_at > RECONNECT_S[1]:
                pause = RECONNECT_S[0]
            self._stopped.wait(pause)
            pause = min(pause * 2, RECONNECT_S[1])

    def _serve(self, conn: Any, cursor: Any) -> None:
        sock: socket.socket = conn._usock
        while not self._stopped.is_set():
            if not _buffered(conn, sock):
                select.select([sock], [], [], CHECK_IDLE_S)
                if self._stopped.is_set():
                    return
            # a round trip makes pg8000 read every notice that came before its answer (and
            # proves the connection alive when none came)
            cursor.execute("SELECT 1")
            cursor.fetchall()
            queued: deque[tuple[int, str, str]] = conn.notifications
            if len(queued) == queued.maxlen:  # some may have been dropped: everyone reads
                queued.clear()
                self._wake(None)
                continue
            keys: set[str] = set()
            while queued:
                _, _, payload = queued.popleft()
                keys.update(key for key in payload.split(" ") if key)
            if keys:
                self._wake(iter(keys))


def _buffered(conn: Any, sock: socket.socket) -> bool:
    """Bytes already read from the socket but not yet parsed (a notice that arrived with the
    last answer): select() would not see them."""
    pending = getattr(sock, "pending", None)  # an SSL socket's decrypted bytes
    if pending is not None and pending():
        return True
    sock.setblocking(False)
    try:
        return bool(conn._sock.peek(1))
    except (BlockingIOError, ssl.SSLWantReadError, ValueError):
        # nothing waiting (a TLS socket says so with SSLWantReadError: the Cloud SQL connector
        # always hands pg8000 one)
        return False
    finally:
        sock.setblocking(True)


def notices() -> Notices:
    """This process's listener, started by the first follower."""
    return _notices.get()


def _new_connection() -> Any:
    """A connection made like the engine's (URL or Cloud SQL connector), taken out of its pool:
    it listens for the life of the process."""
    from core.db.engine import get_engine

    fairy = get_engine().raw_connection()
    fairy.detach()
    return fairy.dbapi_connection


def reset_notices() -> None:
    """Forget the listener (tests that swap the database)."""
    forgotten = _notices.reset()
    if forgotten is not None:
        forgotten.stop()


_notices = Lazy(lambda: Notices(_new_connection))
