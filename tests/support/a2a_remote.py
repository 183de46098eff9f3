"""A real A2A 1.0 agent on 127.0.0.1, served by a2a-sdk's own server (JSON-RPC binding, its
DefaultRequestHandler and in-memory task store), for the tests of remote agents as tools:

- a message answers `remote heard: <text>` as the completed task's artifact;
- `ask me` makes the task `input-required`, asking "which city?";
- `fail` fails the task, saying "the remote broke";
- `slow <seconds>` works that long first (the task is answered once it ends: a blocking send).

Its card is at /.well-known/agent-card.json, with its JSON-RPC interface at /rpc. A request
with `Authorization: Bearer <token>` must carry a token of `tokens` (401 otherwise); one without
is served. Every HTTP request is
written down (method, path, host, Authorization) and every message (its id, contextId, text),
so a test can tell what a host was sent. `redirects` maps paths to the `Location` they answer 307
with (`{port}` in one becomes the server's own port).

Run: python -m tests.support.a2a_remote PORT LOG_FILE '{"tokens": [...], "redirects": {...}}'."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.mcp_server import ROOT, _lines, _wait_until_listening

A2A_TOKEN = "tok-remote-0123456789"
# its card again, under a host name A2A_ALLOWED_HOSTS lacks unless a test adds it
MOVED = {"/moved": "http://localhost:{port}/.well-known/agent-card.json"}


@dataclass(frozen=True)
class A2aRemote:
    base: str
    log_file: Path
    port: int

    @property
    def card_url(self) -> str:
        return f"{self.base}/.well-known/agent-card.json"

    def card_url_as(self, host: str) -> str:
        return f"http://{host}:{self.port}/.well-known/agent-card.json"

    def requests(self) -> list[dict[str, Any]]:
        return [row for row in _lines(self.log_file) if "method" in row]

    def messages(self) -> list[dict[str, Any]]:
        return [row for row in _lines(self.log_file) if "message_id" in row]


@contextmanager
def serving(
    tmp: Path, tokens: tuple[str, ...] = (), *, redirects: dict[str, str] | None = None
) -> Iterator[A2aRemote]:
    from tests.support.tasks_emulator import free_port

    port = free_port()
    log = tmp / f"a2a-{port}.jsonl"
    options = {"tokens": list(tokens), "redirects": redirects or {}}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.a2a_remote",
            str(port),
            str(log),
            json.dumps(options),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_listening(port, process)  # type: ignore[arg-type]
        yield A2aRemote(f"http://127.0.0.1:{port}", log, port)
    finally:
        process.kill()
        process.wait(timeout=10)


def main(port: int, log_file: str, options: dict[str, Any]) -> None:
    import uvicorn
    from a2a.helpers.proto_helpers import (
        get_message_text,
        new_task,
        new_text_message,
        new_text_part,
    )
    from a2a.server.agent_execution import AgentExecutor, RequestContext
    from a2a.server.events import EventQueue
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
    from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
    from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill, TaskState
    from starlette.applications import Starlette

    def write(row: dict[str, Any]) -> None:
        with open(log_file, "a") as out:
            out.write(json.dumps(row) + "\n")

    class Remote(AgentExecutor):
        async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
            message = context.message
            assert message is not None
            assert context.task_id
            assert context.context_id
            said = get_message_text(message)
            write(
                {
                    "message_id": message.message_id,
                    "context_id": message.context_id,
                    "task_id": context.task_id,
                    "text": said,
                }
            )
            if context.current_task is None:
                await event_queue.enqueue_event(
                    new_task(
                        context.task_id,
                        context.context_id,
                        TaskState.TASK_STATE_SUBMITTED,
                        history=[message],
                    )
                )
            updater = TaskUpdater(event_queue, context.task_id, context.context_id)
            await updater.start_work()
            if said.startswith("slow "):
                await asyncio.sleep(float(said.split()[1]))
            if said == "ask me":
                await updater.requires_input(
                    new_text_message(
                        "which city?", context_id=context.context_id, task_id=context.task_id
                    )
                )
                return
            if said == "fail":
                await updater.failed(
                    new_text_message(
                        "the remote broke", context_id=context.context_id, task_id=context.task_id
                    )
                )
                return
            await updater.add_artifact([new_text_part(f"remote heard: {said}")], name="answer")
            await updater.complete()

        async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
            raise NotImplementedError

    card = AgentCard(
        name="Remote helper",
        description="answers what it heard",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(
                url=f"http://127.0.0.1:{port}/rpc",
                protocol_binding="JSONRPC",
                protocol_version="1.0",
            )
        ],
        capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="hear", name="Hear", description="repeats a message", tags=["echo"])],
    )
    handler = DefaultRequestHandler(
        agent_executor=Remote(), task_store=InMemoryTaskStore(), agent_card=card
    )
    app = Starlette(
        routes=[*create_agent_card_routes(card), *create_jsonrpc_routes(handler, "/rpc")]
    )
    tokens = set(options.get("tokens") or [])
    redirects = {
        path: target.replace("{port}", str(port))
        for path, target in (options.get("redirects") or {}).items()
    }

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            auth = headers.get("authorization")
            write(
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "host": headers.get("host", ""),
                    "authorization": auth,
                }
            )
            target = redirects.get(scope["path"])
            refused = auth is not None and auth.removeprefix("Bearer ") not in tokens
            if target is not None or refused:
                start: dict[str, Any] = {"type": "http.response.start", "status": 401}
                start["headers"] = [(b"content-length", b"0")]
                if target is not None:
                    start["status"] = 307
                    start["headers"].append((b"location", target.encode()))
                await send(start)
                await send({"type": "http.response.body", "body": b""})
                return
        await app(scope, receive, send)

    uvicorn.run(guarded, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]))
