"""Sessions and asynchronous runs, in one run against the local server (`python -m
core.devserver`: every route group plus the in-process task dispatcher, gunicorn 1 worker x 8
threads) on a scratch database:

* executions per second through the local worker: N async executions (test provider) submitted
  at once, timed until every one has succeeded;
* the events page latency at page 1 vs page 500 of a 10,000-event session (keyset cursor:
  target ≤ 1.2x);
* the latency of conversation turn 1 vs turn 200 of one session (history replayed every turn:
  target ≤ 2x).

    .venv/bin/python bench/async.py [--executions 200] [--database-url URL]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from typing import Any

from common import (  # type: ignore[import-not-found]
    DEFAULT_DATABASE_URL,
    HOST,
    ROOT,
    free_port,
    scratch_database,
)


class Client:
    def __init__(self, port: int, token: str | None = None) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        payload = None if body is None else json.dumps(body)
        self.conn.request(method, path, body=payload, headers=self.headers)
        response = self.conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None


def timed(client: Client, method: str, path: str, body: Any = None) -> float:
    started = time.perf_counter()
    status, answer = client.call(method, path, body)
    elapsed = (time.perf_counter() - started) * 1000
    if status >= 300:
        raise RuntimeError(f"{method} {path} → {status}: {answer}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--executions", type=int, default=200)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()

    with scratch_database(args.database_url) as url:
        os.environ["DATABASE_URL"] = url  # for seeding from this process
        port = free_port()
        env = {
            **os.environ,
            "APP_ENV": "local",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": url,
            "PORT": str(port),
            "THREADS": "8",
            "ACCESS_LOG": "/dev/null",
            "LOG_LEVEL": "WARNING",
            "DATA_DIR": str(ROOT / ".data" / "bench"),
            "USER_MAX_CONCURRENT_RUNS": "100000",  # one user submits them all at once
            "RATE_LIMIT_PER_MINUTE": "100000000",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "core.devserver"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            results = run(port, args)
        finally:
            os.killpg(server.pid, signal.SIGINT)
            server.wait(timeout=30)

    print(f"sessions and async runs; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(
        f"async executions through the local worker: {results['rate']:.1f}/s "
        f"({args.executions} submitted at once, all succeeded in {results['drain_s']:.2f} s)"
    )
    p1, p500 = results["page1"], results["page500"]
    print(
        f"events page (limit 20) of a 10,000-event session: page 1 p50 {p1:.2f} ms, "
        f"page 500 p50 {p500:.2f} ms -> {p500 / p1:.2f}x (target ≤ 1.2x)"
    )
    t1, tn = results["turn_first"], results["turn_last"]
    print(
        f"conversation turn latency: turns 1-5 p50 {t1:.2f} ms, turns "
        f"{args.turns - 4}-{args.turns} p50 {tn:.2f} ms -> {tn / t1:.2f}x (target ≤ 2x)"
    )
    return 0


def run(port: int, args: argparse.Namespace) -> dict[str, float]:
    anonymous = Client(port)
    deadline = time.monotonic() + 60
    while True:
        try:
            if anonymous.call("GET", "/health")[0] == 200:
                break
        except OSError:
            anonymous = Client(port)
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.1)
    anonymous.call(
        "POST",
        "/auth/register",
        {"username": "bench", "email": "bench@example.com", "password": "benchmark!"},
    )
    _, tokens = anonymous.call(
        "POST", "/auth/login", {"username": "bench", "password": "benchmark!"}
    )
    client = Client(port, tokens["access_token"])
    _, agent = client.call(
        "POST",
        "/agents",
        {
            "name": "bench",
            "display_name": "Bench",
            "definition": {"model": {"provider": "test", "name": "test"}},
        },
    )

    # async throughput: submit all, then wait until every one succeeded
    started = time.perf_counter()
    ids = []
    for i in range(args.executions):
        status, execution = client.call(
            "POST", f"/agents/{agent['id']}/execute", {"input": f"job {i}", "mode": "async"}
        )
        assert status == 202, execution
        ids.append(execution["id"])
    remaining = set(ids)
    while remaining:
        done = _all_succeeded(client, agent["id"])
        remaining -= done
        if remaining:
            time.sleep(0.05)
    drain_s = time.perf_counter() - started

    # a 10,000-event session, seeded directly
    _, session = client.call("POST", "/sessions", {"agent_id": agent["id"]})
    _seed_events(session["id"], 10_000)
    sys.path.insert(0, str(ROOT))
    from core.pagination import encode_cursor

    first = [timed(client, "GET", f"/sessions/{session['id']}/events?limit=20") for _ in range(60)]
    cursor = encode_cursor([499 * 20])  # page 500 starts after seq 9980
    deep = [
        timed(client, "GET", f"/sessions/{session['id']}/events?limit=20&cursor={cursor}")
        for _ in range(60)
    ]

    # one long conversation
    _, chat = client.call("POST", "/sessions", {"agent_id": agent["id"]})
    turns = [
        timed(client, "POST", f"/sessions/{chat['id']}/messages", {"content": f"turn {n}"})
        for n in range(args.turns)
    ]
    return {
        "rate": args.executions / drain_s,
        "drain_s": drain_s,
        "page1": statistics.median(first[10:]),
        "page500": statistics.median(deep[10:]),
        "turn_first": statistics.median(turns[:5]),
        "turn_last": statistics.median(turns[-5:]),
    }


def _all_succeeded(client: Client, agent_id: str) -> set[str]:
    done: set[str] = set()
    cursor = ""
    while True:
        _, page = client.call(
            "GET", f"/executions?agent_id={agent_id}&status=succeeded&limit=100{cursor}"
        )
        done |= {item["id"] for item in page["items"]}
        if not page["next_cursor"]:
            return done
        cursor = f"&cursor={page['next_cursor']}"


def _seed_events(session_id: str, count: int) -> None:
    import sqlalchemy as sa

    from core.db import get_engine

    with get_engine().begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO events (id, session_id, seq, type, payload) "
                "SELECT gen_random_uuid(), CAST(:sid AS uuid), n, 'model_response', "
                "jsonb_build_object('text', 'event ' || n) FROM generate_series(1, :count) AS n"
            ),
            {"sid": session_id, "count": count},
        )
        conn.execute(
            sa.text("UPDATE sessions SET last_seq = :count WHERE id = CAST(:sid AS uuid)"),
            {"sid": session_id, "count": count},
        )


if __name__ == "__main__":
    sys.exit(main())
