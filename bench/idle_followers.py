"""The cost of idle live followers: N clients follow (`Accept: text/event-stream`) one run that
waits for a person's approval, on one executions function process (functions-framework,
gunicorn 1 worker x N+4 threads). Measured over a window once they are all connected:

* the function process's CPU time (user + system, from /proc), per minute;
* the transactions the scratch database committed or rolled back (pg_stat_database), per
  minute: each follower's read is one transaction of two queries.

Run it on two checkouts to compare (before: polling every 0.25 s; after: woken by NOTIFY):

    .venv/bin/python bench/idle_followers.py [--followers 50] [--seconds 60]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import threading
import time
from typing import Any

from common import (  # type: ignore[import-not-found]
    DEFAULT_DATABASE_URL,
    HOST,
    ROOT,
    bench_environment,
    bench_user_headers,
    function_process,
    scratch_database,
)

AGENTS = ROOT / "functions" / "agents" / "main.py"
EXECUTIONS = ROOT / "functions" / "executions" / "main.py"


def post(port: int, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    conn.request("POST", path, json.dumps(body), {**headers, "Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def follow(port: int, path: str, headers: dict[str, str], connected: threading.Event) -> None:
    conn = http.client.HTTPConnection(HOST, port, timeout=None)
    conn.request("GET", path, headers={**headers, "Accept": "text/event-stream"})
    response = conn.getresponse()
    while True:
        line = response.fp.readline()
        if not line:
            return
        if line.startswith(b"event: user_message"):
            connected.set()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its children (gunicorn's worker)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            with open(f"/proc/{current}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pids += [int(child) for child in children.read().split()]
        except FileNotFoundError:
            continue
    return total


def transactions(database_url: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        return int(
            conn.scalar(
                sa.text(
                    "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                    "WHERE datname = current_database()"
                )
            )
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--followers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()

    with scratch_database(args.database_url) as database_url:
        env = bench_environment(database_url)
        headers = bench_user_headers()
        with (
            function_process(AGENTS, "entry", env, ready_path="/openapi.json") as agents_port,
            function_process(
                EXECUTIONS,
                "entry",
                env,
                ready_path="/openapi.json",
                threads=args.followers + 4,
            ) as executions_port,
        ):
            tool = {"name": "file_write", "enabled": True, "config": {}, "requires_approval": True}
            status, agent = post(
                agents_port,
                "/",
                {
                    "name": "bench",
                    "display_name": "Bench",
                    "definition": {
                        "model": {"provider": "test", "name": "test"},
                        "system_prompt": "be brief",
                        "tools": [tool],
                    },
                },
                headers,
            )
            assert status == 201, agent
            status, run = post(agents_port, f"/{agent['id']}/execute", {"input": "go"}, headers)
            assert run["status"] == "waiting_approval", run
            connected = [threading.Event() for _ in range(args.followers)]
            for event in connected:
                threading.Thread(
                    target=follow,
                    args=(executions_port, f"/{run['id']}/events", headers, event),
                    daemon=True,
                ).start()
            for event in connected:
                if not event.wait(60):
                    raise RuntimeError("a follower did not connect")
            # PostgreSQL publishes an idle backend's counts up to 10 s late: the connects' first
            time.sleep(15.0)
            server_pid = _pid_listening(executions_port)
            cpu0, xact0, t0 = cpu_s(server_pid), transactions(database_url), time.monotonic()
            time.sleep(args.seconds)
            cpu1, xact1, t1 = cpu_s(server_pid), transactions(database_url), time.monotonic()

    minutes = (t1 - t0) / 60
    print(f"{args.followers} idle followers on one process, {t1 - t0:.0f} s window")
    print(f"  process CPU: {(cpu1 - cpu0) / minutes:.2f} s per minute")
    print(f"  database transactions: {(xact1 - xact0) / minutes:.0f} per minute")
    return 0


def _pid_listening(port: int) -> int:
    """The process that serves `port` (functions-framework's gunicorn master)."""
    import subprocess

    out = subprocess.run(
        ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    return int(out.split("pid=", 1)[1].split(",", 1)[0])


if __name__ == "__main__":
    sys.exit(main())
