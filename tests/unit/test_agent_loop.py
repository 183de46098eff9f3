"""A thread's agent loop polls for I/O less often while callbacks are ready, never much later."""

from __future__ import annotations

import asyncio
import socket

from core.agents.loop import run_on_agent_loop


def test_io_that_is_ready_is_seen_within_a_few_turns_of_a_busy_loop() -> None:
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    turns = 0

    async def spin() -> None:
        nonlocal turns
        while turns < 1000:
            turns += 1
            if turns == 5:  # the reader waits on the socket by now
                writer.sendall(b"ready")
            await asyncio.sleep(0)  # a callback always ready: the loop never waits

    async def main() -> tuple[bytes, int]:
        spinner = asyncio.create_task(spin())
        data = await asyncio.get_running_loop().sock_recv(reader, 16)
        seen_at = turns
        spinner.cancel()
        return data, seen_at

    try:
        data, seen_at = run_on_agent_loop(main())
    finally:
        reader.close()
        writer.close()
    assert data == b"ready"
    assert seen_at <= 5 + 12  # polled at least every 8 busy turns (and the read's own turns)


def test_a_loop_with_nothing_ready_waits_for_io_as_usual() -> None:
    reader, writer = socket.socketpair()
    reader.setblocking(False)

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, writer.sendall, b"later")
        return await asyncio.wait_for(loop.sock_recv(reader, 16), timeout=5)

    try:
        assert run_on_agent_loop(main()) == b"later"
    finally:
        reader.close()
        writer.close()
