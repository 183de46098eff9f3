"""Synchronous execute over HTTP: the agents function beside a floor, in one run.

* service: `functions/agents/main.py` under functions-framework (gunicorn, 1 worker x 8 threads),
  `POST /<agent_id>/execute` on an agent of the offline `test` provider without tools. Every
  request authenticates, checks access, creates the execution row, runs pydantic-ai's TestModel,
  writes the events (user_message, model_response, status) and the usage, and answers the
  finished execution.
* service+key: the same with an execute-scope API key instead of a JWT (the key is looked up
  once per instance; whether it still exists is asked by the statement that starts the run).
* floor: a bare functions-framework/Flask handler under the same server settings that runs the
  same TestModel agent and returns its output, persisting nothing.
* session turns: `functions/sessions/main.py`, 200 sequential turns on one session of the same
  agent (its history grows by each turn), beside the execute p50 and beside their own floor
  (`floor_turn`: bare pydantic-ai given the history kept in memory). pydantic-ai's own work per
  request grows with the history (it re-reads every message), so the targets are taken net of
  that floor: a turn costs at most 1.3x an execute plus the library's history cost, and what
  the service itself spends per turn does not grow with the conversation.
* floor+sql (a reference, not a target): the floor plus as many trivial `SELECT 1` round trips
  as a sync execute sends (2: one before the model call, one after), to show what round trips
  alone cost under concurrent load.

Reported for each: p50/p95 latency of sequential requests on one keep-alive connection, and
requests per second with 8 concurrent clients, the targets taking turns (4 by default) so that
the shared machine's drift weighs on all of them alike. Also the agents function's cold start
beside the auth function's (process start to first 200 on /openapi.json, then to the first
execute).

    .venv/bin/python bench/execute.py [--requests 400] [--seconds 8] [--database-url URL]

Needs PostgreSQL (default postgresql://postgres@127.0.0.1:5432/postgres, trust auth); the
benchmark creates a scratch database there and drops it at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from common import (  # type: ignore[import-not-found]
    DEFAULT_DATABASE_URL,
    HOST,
    ROOT,
    bench_api_key_headers,
    bench_environment,
    bench_user_headers,
    function_process,
    scratch_database,
)

AGENTS = ROOT / "functions" / "agents" / "main.py"
SESSIONS = ROOT / "functions" / "sessions" / "main.py"
AUTH = ROOT / "functions" / "auth" / "main.py"
FLOOR = Path(__file__).resolve().parent / "execute_targets" / "floor.py"
FLOOR_SQL = Path(__file__).resolve().parent / "execute_targets" / "floor_sql.py"


class Client:
    """One keep-alive connection."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)
        self.headers = {"Content-Type": "application/json", **(headers or {})}

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.conn.request("POST", path, body=json.dumps(body), headers=self.headers)
        response = self.conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")


def latency_ms(
    port: int, path: str, headers: dict[str, str], n: int, *, field: str = "input", warm: int = 20
) -> list[float]:
    client = Client(port, headers)
    for _ in range(warm):  # warm-up: pools, caches, the agent loop
        client.post(path, {field: "warm up"})
    samples = []
    for i in range(n):
        started = time.perf_counter()
        status, body = client.post(path, {field: f"request {i}"})
        samples.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}: {body}")
    return samples


def session_turns_ms(
    sessions_port: int, agent_id: str, headers: dict[str, str], turns: int
) -> list[float]:
    """`turns` sequential turns on one new session (its history grows by each)."""
    status, session = Client(sessions_port, headers).post("/", {"agent_id": agent_id})
    if status != 201:
        raise RuntimeError(f"creating a session answered {status}: {session}")
    return latency_ms(
        sessions_port, f"/{session['id']}/messages", headers, turns, field="content", warm=0
    )


def budgeted_turns_ms(
    sessions_port: int, agent_id: str, headers: dict[str, str], turns: int
) -> tuple[str, list[float]]:
    """`turns` sequential turns of ~60 words each on one new session of an agent with a
    context budget: its session id and the latencies."""
    client = Client(sessions_port, headers)
    status, session = client.post("/", {"agent_id": agent_id})
    if status != 201:
        raise RuntimeError(f"creating a session answered {status}: {session}")
    samples = []
    for i in range(turns):
        started = time.perf_counter()
        status, body = client.post(f"/{session['id']}/messages", {"content": f"turn {i}: {TALK}"})
        samples.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"a turn answered {status}: {body}")
    return str(session["id"]), samples


BUDGET_TOKENS = 1000
TALK = "Tell me more about the river, the bridge and the old mill we talked about. " * 4


def interleaved_throughput(
    targets: dict[str, tuple[int, str, dict[str, str]]],
    seconds: float,
    clients: int,
    rounds: int,
) -> dict[str, float]:
    """Requests per second of each target (port, path, headers), measured in `rounds` turns
    of seconds/rounds each, the targets taking turns: drift in the machine's speed (it is
    shared) then weighs on every target alike rather than on whichever ran last."""
    done = dict.fromkeys(targets, 0.0)
    spent = dict.fromkeys(targets, 0.0)
    for _ in range(rounds):
        for name, (port, path, headers) in targets.items():
            rate, elapsed = _throughput(port, path, headers, seconds / rounds, clients)
            done[name] += rate * elapsed
            spent[name] += elapsed
    return {name: done[name] / spent[name] for name in targets}


def _throughput(
    port: int, path: str, headers: dict[str, str], seconds: float, clients: int
) -> tuple[float, float]:
    done = [0] * clients
    errors: list[str] = []
    stop = time.perf_counter() + seconds

    def work(index: int) -> None:
        client = Client(port, headers)
        while time.perf_counter() < stop:
            status, body = client.post(path, {"input": "go"})
            if status != 200:
                errors.append(f"{status}: {body}")
                return
            done[index] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(errors[0])
    elapsed = time.perf_counter() - started
    return sum(done) / elapsed, elapsed


def cold_start_ms(source: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    with function_process(source, "entry", env, ready_path="/openapi.json"):
        return (time.perf_counter() - started) * 1000


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4, help="turns the targets take")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--turns", type=int, default=200, help="turns on one session")
    args = parser.parse_args()

    with scratch_database(args.database_url) as database_url:
        env = bench_environment(database_url)
        headers = bench_user_headers()
        key_headers = bench_api_key_headers()

        with (
            function_process(AGENTS, "entry", env, ready_path="/openapi.json") as agents_port,
            function_process(FLOOR, "floor", env) as floor_port,
            function_process(FLOOR_SQL, "floor_sql", env) as floor_sql_port,
            function_process(SESSIONS, "entry", env, ready_path="/openapi.json") as sessions_port,
            function_process(FLOOR, "floor_turn", env) as floor_turn_port,
        ):
            status, agent = Client(agents_port, headers).post(
                "/",
                {
                    "name": "bench",
                    "display_name": "Bench",
                    "definition": {
                        "model": {"provider": "test", "name": "test"},
                        "system_prompt": "be brief",
                    },
                },
            )
            if status != 201:
                raise RuntimeError(f"creating the agent answered {status}: {agent}")
            execute_path = f"/{agent['id']}/execute"
            floor_lat = latency_ms(floor_port, "/", {}, args.requests)
            floor_sql_lat = latency_ms(floor_sql_port, "/", {}, args.requests)
            service_lat = latency_ms(agents_port, execute_path, headers, args.requests)
            key_lat = latency_ms(agents_port, execute_path, key_headers, args.requests)
            session_turns_ms(sessions_port, agent["id"], headers, 20)  # warm-up
            turn_lat = session_turns_ms(sessions_port, agent["id"], headers, args.turns)
            status, budgeted = Client(agents_port, headers).post(
                "/",
                {
                    "name": "bench-budget",
                    "display_name": "Bench, with a context budget",
                    "definition": {
                        "model": {"provider": "test", "name": "test"},
                        "system_prompt": "be brief",
                        "context": {"max_history_tokens": BUDGET_TOKENS},
                    },
                },
            )
            if status != 201:
                raise RuntimeError(f"creating the agent answered {status}: {budgeted}")
            session_turns_ms(sessions_port, budgeted["id"], headers, 20)  # warm-up
            budget_session, budget_lat = budgeted_turns_ms(
                sessions_port, budgeted["id"], headers, args.turns
            )
            latency_ms(floor_turn_port, "/warm-up", {}, 20, field="content", warm=0)
            floor_turn_lat = latency_ms(
                floor_turn_port, "/conversation", {}, args.turns, field="content", warm=0
            )
            rps = interleaved_throughput(
                {
                    "floor": (floor_port, "/", {}),
                    "floor+sql": (floor_sql_port, "/", {}),
                    "service": (agents_port, execute_path, headers),
                    "service+key": (agents_port, execute_path, key_headers),
                },
                args.seconds,
                args.clients,
                args.rounds,
            )
            floor_rps, floor_sql_rps, service_rps = rps["floor"], rps["floor+sql"], rps["service"]
            key_rps = rps["service+key"]

        from core.db import transaction

        with transaction() as db:
            from sqlalchemy import func, select

            from core.models.executions import AgentExecution
            from core.models.sessions import Event

            runs = db.scalar(select(func.count()).select_from(AgentExecution))
            succeeded = db.scalar(
                select(func.count())
                .select_from(AgentExecution)
                .where(AgentExecution.status == "succeeded", AgentExecution.requests >= 1)
            )
            events = db.scalar(select(func.count()).select_from(Event))
            sent_tokens = list(
                db.scalars(
                    select(AgentExecution.input_tokens)
                    .where(AgentExecution.session_id == budget_session)
                    .order_by(AgentExecution.created_at)
                )
            )
            summaries = db.scalar(
                select(func.count())
                .select_from(Event)
                .where(Event.session_id == budget_session, Event.type == "context_summarized")
            )
        from core.db import reset_engine

        reset_engine()
        cold = {
            "auth": statistics.median(cold_start_ms(AUTH, env) for _ in range(5)),
            "agents": statistics.median(cold_start_ms(AGENTS, env) for _ in range(5)),
        }

    print(
        f"sync execute, {args.requests} sequential requests, then {args.clients} clients "
        f"for {args.seconds:g} s each (in {args.rounds} interleaved turns); "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    print(f"{'':<10} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8}")
    rows = (
        ("floor", floor_lat, floor_rps),
        ("floor+sql", floor_sql_lat, floor_sql_rps),
        ("service", service_lat, service_rps),
        ("service+key", key_lat, key_rps),
    )
    for name, lat, rps in rows:
        print(f"{name:<10} {pct(lat, 50):>8.2f} {pct(lat, 95):>8.2f} {rps:>8.1f}")
    print(
        f"service / floor req/s: {service_rps / floor_rps:.2f}  (target ≥ 0.75);"
        f" floor+sql / floor: {floor_sql_rps / floor_rps:.2f};"
        f" API key / JWT req/s: {key_rps / service_rps:.2f}"
    )
    first, last = statistics.mean(turn_lat[:20]), statistics.mean(turn_lat[-20:])
    floor_first = statistics.mean(floor_turn_lat[:20])
    floor_last = statistics.mean(floor_turn_lat[-20:])
    # what the service adds to a turn beyond what pydantic-ai itself spends on the history
    own = [turn - floor for turn, floor in zip(turn_lat, floor_turn_lat, strict=True)]
    own_first, own_last = statistics.mean(own[:20]), statistics.mean(own[-20:])
    history_cost = pct(floor_turn_lat, 50) - pct(floor_lat, 50)
    print(
        f"session turns ({args.turns} on one session): p50 {pct(turn_lat, 50):.2f} ms = "
        f"{pct(turn_lat, 50) / pct(service_lat, 50):.2f}x the execute p50; "
        f"turns 1-20 mean {first:.2f} ms, turns {args.turns - 19}-{args.turns} "
        f"mean {last:.2f} ms = {last / first:.2f}x"
    )
    print(
        f"  floor (bare pydantic-ai, the history in memory): p50 {pct(floor_turn_lat, 50):.2f} ms "
        f"= {pct(floor_turn_lat, 50) / pct(floor_lat, 50):.2f}x its execute; turns 1-20 "
        f"{floor_first:.2f} ms, last 20 {floor_last:.2f} ms = {floor_last / floor_first:.2f}x"
    )
    print(
        f"  net of the library's history cost: turn p50 / (execute p50 + {history_cost:.2f} ms) "
        f"= {pct(turn_lat, 50) / (pct(service_lat, 50) + history_cost):.2f} (target <= 1.3); "
        f"the service's own ms per turn: first 20 {own_first:.2f}, last 20 {own_last:.2f} "
        f"= {own_last / own_first:.2f}x (target <= 1.2)"
    )
    b_first, b_last = statistics.mean(budget_lat[:20]), statistics.mean(budget_lat[-20:])
    print(
        f"session turns with a context budget ({BUDGET_TOKENS} tokens, summarize): turns 1-20 "
        f"mean {b_first:.2f} ms, turns {args.turns - 19}-{args.turns} mean {b_last:.2f} ms = "
        f"{b_last / b_first:.2f}x (target <= 1.2); input tokens per turn (each turn's model "
        f"requests, the summaries' included): first 20 mean "
        f"{statistics.mean(sent_tokens[:20]):.0f}, last 20 mean "
        f"{statistics.mean(sent_tokens[-20:]):.0f}, max {max(sent_tokens)}; "
        f"{summaries} summaries in {len(sent_tokens)} turns"
    )
    print(f"persisted: {runs} executions ({succeeded} succeeded with usage), {events} events")
    print(
        f"cold start to first 200 (median of 5): auth {cold['auth']:.0f} ms, "
        f"agents {cold['agents']:.0f} ms (+{cold['agents'] - cold['auth']:.0f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
