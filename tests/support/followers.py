"""Many live followers of one run, held open by one asyncio client (a socket each, no thread
each), and the server process's threads and memory while they are."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests


@dataclass
class Followers:
    """`count` followers of `path` kept open on a background event loop until `close()`."""

    base: str
    path: str
    headers: dict[str, str]
    count: int

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._writers: list[asyncio.StreamWriter] = []
        self.connected = 0
        self.refused: list[int] = []

    def open(self, timeout_s: float = 120) -> None:
        future = asyncio.run_coroutine_threadsafe(self._open_all(), self._loop)
        future.result(timeout=timeout_s)

    async def _open_all(self) -> None:
        gate = asyncio.Semaphore(100)  # connect a hundred at a time
        await asyncio.gather(*(self._open_one(gate) for _ in range(self.count)))

    async def _open_one(self, gate: asyncio.Semaphore) -> None:
        address = urlsplit(self.base)
        async with gate:
            reader, writer = await asyncio.open_connection(address.hostname, address.port)
            head = [f"GET {self.path} HTTP/1.1", f"Host: {address.netloc}"]
            head += [f"{name}: {value}" for name, value in self.headers.items()]
            head += ["Accept: text/event-stream", "", ""]
            writer.write("\r\n".join(head).encode())
            await writer.drain()
            status = int((await reader.readline()).split()[1])
            if status != 200:
                self.refused.append(status)
                writer.close()
                return
            while (await reader.readline()) not in (b"\r\n", b""):
                pass  # the rest of the head: it is answered, and follows
            self._writers.append(writer)
            self.connected += 1

    def close(self) -> None:
        async def close_all() -> None:
            for writer in self._writers:
                writer.close()

        asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def p50_ms(call: Callable[[], Any], times: int = 40) -> float:
    took = []
    for _ in range(times):
        started = time.perf_counter()
        answer = call()
        took.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text
    return statistics.median(took)


def process_of(port: int) -> tuple[int, float]:
    """(threads, RSS in MiB) of the process listening on `port`."""
    import psutil

    for connection in psutil.net_connections("tcp"):
        if connection.laddr and connection.laddr.port == port and connection.status == "LISTEN":
            process = psutil.Process(connection.pid)
            return process.num_threads(), process.memory_info().rss / 2**20
    raise LookupError(f"nothing listens on {port}")


def measure(base: str, port: int, headers: dict[str, str], agent_id: str) -> dict[str, float]:
    session = requests.Session()
    execute = f"{base}/agents/{agent_id}/execute"
    threads, rss = process_of(port)
    return {
        "health_p50_ms": p50_ms(lambda: session.get(f"{base}/health", timeout=30)),
        "execute_p50_ms": p50_ms(
            lambda: session.post(execute, json={"input": "hi"}, headers=headers, timeout=30), 20
        ),
        "threads": threads,
        "rss_mib": rss,
    }
