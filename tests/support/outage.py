"""A database outage as production meets it: `make dev`'s server on a PostgreSQL of its own,
under load (clients listing and executing, async runs, sync runs in the middle of a slow MCP
tool), the PostgreSQL stopped for a while and started again. What each caller was told, how
every run ended, and how often the tool ran against the number of runs.

Used by tests/e2e/test_db_outage.py (short) and bench/db_outage.py (the issue's figures)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.e2e.conftest import free_port, start_server, stop_server
from tests.support.mcp_server import serving
from tests.support.postgres_instance import postgres_instance

TERMINAL = {"succeeded", "failed", "cancelled", "timed_out"}


@dataclass
class OutageReport:
    outage_s: float
    # (what, status) of every answer the load got while the database was down
    during: Counter[tuple[str, int]] = field(default_factory=Counter)
    # what each sync caller whose run was under way when the database went was told
    in_flight: list[dict[str, Any]] = field(default_factory=list)
    ready: tuple[int, str | None] = (0, None)  # /health/ready during the outage, Retry-After
    finals: Counter[str] = field(default_factory=Counter)  # every run's final status
    runs: int = 0
    tool_calls: int = 0  # how often the MCP tool really ran
    recovered_s: float = 0.0  # from the restart until every run had ended
    first_execute_after_s: float = 0.0  # the first execute answered 200 after the restart

    def lines(self) -> list[str]:
        during = ", ".join(
            f"{what} {status}: {n}" for (what, status), n in sorted(self.during.items())
        )
        told = Counter(_told(answer) for answer in self.in_flight)
        return [
            f"PostgreSQL stopped {self.outage_s:g} s: answers meanwhile {during}",
            f"/health/ready meanwhile: {self.ready[0]}, Retry-After {self.ready[1]}",
            f"sync callers in flight when it stopped ({len(self.in_flight)}): {dict(told)}",
            f"every run's end ({self.runs} runs): {dict(self.finals)}, "
            f"{self.recovered_s:.1f} s after the restart",
            f"tool executions {self.tool_calls} for {self.runs} runs",
            f"first execute after the restart answered in {self.first_execute_after_s:.2f} s",
        ]


def _told(answer: dict[str, Any]) -> str:
    said = [str(answer["status"]), answer.get("code") or ""]
    said += ["+execution_id"] if answer.get("execution_id") else []
    said += ["+Location"] if answer.get("location") else []
    return " ".join(part for part in said if part)


def run_outage(
    tmp: Path,
    *,
    outage_s: float,
    clients: int = 8,
    async_runs: int = 20,
    in_flight: int = 4,
    tool_s: float = 2.0,
) -> OutageReport:
    report = OutageReport(outage_s)
    with (
        postgres_instance() as pg,
        serving(tmp, {}, note_delay_s=tool_s) as mcp,
    ):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        process = start_server(
            {
                "DATABASE_URL": pg.url,
                "MCP_ALLOWED_HOSTS": "127.0.0.1",
                "EXECUTION_LEASE_S": "5",
                "SWEEP_INTERVAL_S": "2",
                "THREADS": str(clients + in_flight + 8),
                "DB_POOL_SIZE": str(clients + in_flight + 8),
            },
            port,
        )
        try:
            _measure(report, base, pg, mcp.url, clients, async_runs, in_flight, tool_s)
            report.tool_calls = len(mcp.calls("note"))
        finally:
            stop_server(process)
    return report


def _measure(
    report: OutageReport,
    base: str,
    pg: Any,
    mcp_url: str,
    clients: int,
    async_runs: int,
    in_flight: int,
    tool_s: float,
) -> None:
    from tests.e2e.test_faults import signed_up

    headers = signed_up(base)
    agent = requests.post(
        f"{base}/agents",
        json={
            "name": f"outage-{time.monotonic_ns()}",
            "display_name": "Outage",
            "definition": {
                "model": {"provider": "test", "name": "test"},
                "mcp_servers": [{"name": "svc", "url": mcp_url, "tools": ["note"]}],
            },
        },
        headers=headers,
        timeout=30,
    ).json()["id"]
    execute = f"{base}/agents/{agent}/execute"
    warm = requests.post(execute, json={"input": "warm"}, headers=headers, timeout=120)
    assert warm.status_code == 200, warm.text
    runs: set[str] = {warm.json()["id"]}
    lock = threading.Lock()

    for _ in range(async_runs):
        started = requests.post(
            execute, json={"input": "async", "mode": "async"}, headers=headers, timeout=30
        )
        assert started.status_code == 202, started.text
        runs.add(started.json()["id"])

    def sync_in_flight(_: int) -> dict[str, Any]:
        answer = requests.post(execute, json={"input": "in flight"}, headers=headers, timeout=120)
        body = answer.json()
        error = body.get("error") or {}
        run = body.get("id") or error.get("execution_id")
        if run:
            with lock:
                runs.add(run)
        return {
            "status": answer.status_code,
            "code": error.get("code"),
            "execution_id": error.get("execution_id"),
            "location": answer.headers.get("Location"),
            "retry_after": answer.headers.get("Retry-After"),
        }

    down = threading.Event()
    done = threading.Event()

    def load(index: int) -> None:
        while not done.is_set():
            try:
                if index % 2:
                    what, answer = (
                        "execute",
                        requests.post(
                            execute, json={"input": "load"}, headers=headers, timeout=120
                        ),
                    )
                else:
                    what, answer = (
                        "list",
                        requests.get(f"{base}/executions?limit=5", headers=headers, timeout=120),
                    )
            except requests.RequestException:
                continue
            if answer.status_code == 200 and what == "execute":
                with lock:
                    runs.add(answer.json()["id"])
            if down.is_set():
                with lock:
                    report.during[(what, answer.status_code)] += 1

    with ThreadPoolExecutor(in_flight + clients) as pool:
        flights = [pool.submit(sync_in_flight, i) for i in range(in_flight)]
        time.sleep(min(1.0, tool_s / 2))  # they are inside the slow tool now
        pg.stop("fast")
        down.set()
        loaders = [pool.submit(load, i) for i in range(clients)]
        time.sleep(1.0)
        ready = requests.get(f"{base}/health/ready", timeout=30)
        report.ready = (ready.status_code, ready.headers.get("Retry-After"))
        time.sleep(max(0.0, report.outage_s - 1.0))
        down.clear()
        pg.start()
        restarted = time.monotonic()
        while True:
            first = requests.post(execute, json={"input": "back"}, headers=headers, timeout=120)
            if first.status_code == 200:
                report.first_execute_after_s = time.monotonic() - restarted
                runs.add(first.json()["id"])
                break
            time.sleep(0.05)
        done.set()
        report.in_flight = [flight.result() for flight in flights]
        for loader in loaders:
            loader.result()

    deadline = time.monotonic() + 180
    statuses: dict[str, str] = {}
    while time.monotonic() < deadline:
        statuses = {
            run: requests.get(f"{base}/executions/{run}", headers=headers, timeout=30).json()[
                "status"
            ]
            for run in runs
        }
        if set(statuses.values()) <= TERMINAL:
            break
        time.sleep(0.5)
    report.recovered_s = time.monotonic() - restarted
    report.finals = Counter(statuses.values())
    report.runs = len(runs)
