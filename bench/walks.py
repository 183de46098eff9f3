"""The walk of three requests through our code: a sync execute, a streamed session turn, and a
person's approval. Each request is served in-process (the local app, a scratch database, the
offline `test` model) once to warm up, then once traced: every function of core/ and functions/
entered, in the order first entered.

Reported per request:
* stops: the functions entered; files: the files they are in;
* folder changes: the distinct calls (caller, callee: our nearest caller on the stack) from one
  folder to another (core/runs, core/services, functions/agents, ...);
* climbs: those calls that go to a higher layer (tests/unit/test_import_graph.py's order): a
  handler the dispatcher calls, or a callback given down (the recorder a run step is given).

    .venv/bin/python bench/walks.py [--database-url URL] [--show]

Runs on any commit of this project (it only uses the HTTP API and the test provider), so the
same script measures before and after a change: `git worktree add /tmp/old <commit>` and run
`.venv/bin/python /tmp/old/bench/walks.py` from here with the script copied there.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

from common import (  # type: ignore[import-not-found]
    DEFAULT_DATABASE_URL,
    ROOT,
    bench_environment,
    bench_user_headers,
    scratch_database,
)

SKIPPED = ("<genexpr>", "<listcomp>", "<dictcomp>", "<setcomp>", "<lambda>", "<module>")


def _layers() -> dict[str, int]:
    """The layer of each folder of core/, as tests/unit/test_import_graph.py states them (or
    the one WALK_LAYERS names: to rank an older commit by today's order)."""
    import os

    sys.path.insert(0, os.environ.get("WALK_LAYERS") or str(ROOT / "tests" / "unit"))
    try:
        from test_import_graph import LAYERS  # type: ignore[import-not-found]
    except ImportError:  # a commit before the layers were stated
        return {}
    finally:
        sys.path.pop(0)
    return {room: depth for depth, (_, rooms) in enumerate(LAYERS) for room in rooms}


def _folder(path: str) -> str:
    parts = Path(path).parts
    if parts[0] == "functions":
        return "functions/" + parts[1]
    return "core/" + parts[1].removesuffix(".py") if len(parts) > 1 else parts[0]


class Tracer:
    def __init__(self) -> None:
        self.order: list[tuple[str, str]] = []
        self.calls: set[tuple[tuple[str, str], tuple[str, str]]] = set()
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._roots = (str(ROOT / "core") + "/", str(ROOT / "functions") + "/")

    def _ours(self, frame: Any) -> tuple[str, str] | None:
        code = frame.f_code
        if not code.co_filename.startswith(self._roots) or code.co_name in SKIPPED:
            return None
        return (str(Path(code.co_filename).relative_to(ROOT)), code.co_qualname)

    def __call__(self, frame: Any, event: str, arg: Any) -> None:
        if event != "call":
            return
        key = self._ours(frame)
        if key is None:
            return
        caller, back = None, frame.f_back
        while back is not None and caller is None:
            caller, back = self._ours(back), back.f_back
        with self._lock:
            if key not in self._seen:
                self._seen.add(key)
                self.order.append(key)
            if caller is not None and caller != key:
                self.calls.add((caller, key))

    def __enter__(self) -> Tracer:
        threading.setprofile(self)
        sys.setprofile(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]


def summary(name: str, traced: Tracer, ranks: dict[str, int], show: bool) -> str:
    order = traced.order
    crossing = [
        (_folder(caller[0]), _folder(callee[0]))
        for caller, callee in traced.calls
        if _folder(caller[0]) != _folder(callee[0])
    ]
    changes = len(crossing)

    def rank(folder: str) -> int:
        room = folder.split("/", 1)[1]
        return -1 if folder.startswith("functions/") else ranks.get(room, 99)

    climbs = sum(1 for a, b in crossing if ranks and rank(b) < rank(a))
    line = (
        f"{name}: {len(order)} stops, {len({p for p, _ in order})} files, "
        f"{changes} folder changes, {climbs if ranks else 'n/a'} climbs back up"
    )
    if show:
        line += "\n" + "\n".join(f"    {path}:{function}" for path, function in order)
        line += "\n  climbs:\n" + "\n".join(
            f"    {caller[0]}:{caller[1]} -> {callee[0]}:{callee[1]}"
            for caller, callee in sorted(traced.calls)
            if _folder(caller[0]) != _folder(callee[0])
            and ranks
            and rank(_folder(callee[0])) < rank(_folder(caller[0]))
        )
    return line


class _Recording:
    """A queue that keeps its tasks (the approval's resume is not delivered)."""

    def __init__(self) -> None:
        self.tasks: list[Any] = []

    def enqueue(self, task: Any) -> None:
        self.tasks.append(task)


def _app_with_recorded_tasks() -> Any:
    """The local app, its tasks recorded, whatever the commit's way of giving a queue."""
    from core.devserver import local_app

    try:
        from core.runs.backends import Backends

        return local_app(docs=False, backends=Backends(queue=_Recording()))
    except TypeError:  # before apps were given their Backends
        from core.tasks.queue import use_task_queue  # type: ignore[attr-defined]

        use_task_queue(_Recording())
        return local_app(docs=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--show", action="store_true", help="list every stop")
    args = parser.parse_args()
    with scratch_database(args.database_url) as url:
        bench_environment(url)

        headers = bench_user_headers()
        app = _app_with_recorded_tasks()
        client = app.test_client()
        ranks = _layers()
        model = {"provider": "test", "name": "test"}
        plain = client.post(
            "/agents",
            headers=headers,
            json={
                "name": "walker",
                "display_name": "Walker",
                "definition": {"model": model, "system_prompt": "hi"},
            },
        ).get_json()
        assert "id" in plain, plain
        asking = client.post(
            "/agents",
            headers=headers,
            json={
                "name": "asker",
                "display_name": "Asker",
                "definition": {
                    "model": model,
                    "system_prompt": "hi",
                    "tools": [{"name": "file_write", "enabled": True, "requires_approval": True}],
                },
            },
        ).get_json()

        def execute() -> Any:
            return client.post(
                f"/agents/{plain['id']}/execute", headers=headers, json={"input": "hello"}
            )

        def turn() -> Any:
            session = client.post(
                "/sessions", headers=headers, json={"agent_id": plain["id"]}
            ).get_json()
            answer = client.post(
                f"/sessions/{session['id']}/messages",
                headers={**headers, "Accept": "text/event-stream"},
                json={"content": "hello"},
            )
            return answer.get_data()

        def waiting() -> str:
            started = client.post(
                f"/agents/{asking['id']}/execute", headers=headers, json={"input": "write"}
            ).get_json()
            assert started["status"] == "waiting_approval", started
            return str(started["id"])

        def approve(execution_id: str) -> Any:
            detail = client.get(f"/executions/{execution_id}", headers=headers).get_json()
            calls = [c["tool_call_id"] for c in detail["pending_approvals"]]
            answer = client.post(
                f"/executions/{execution_id}/approvals",
                headers=headers,
                json={"decisions": [{"tool_call_id": c, "approved": True} for c in calls]},
            )
            assert answer.status_code in (200, 202), answer.get_json()

        # warm: imports, caches, prepared statements. Not the turn: its run goes on a stream
        # thread, which a profile reaches only when the thread starts while tracing
        execute(), approve(waiting())
        with Tracer() as traced:
            assert execute().status_code == 200
        print(summary("sync execute", traced, ranks, args.show))
        with Tracer() as traced:
            turn()
        print(summary("streamed session turn", traced, ranks, args.show))
        execution_id = waiting()
        with Tracer() as traced:
            approve(execution_id)
        print(summary("approval", traced, ranks, args.show))


if __name__ == "__main__":
    main()
