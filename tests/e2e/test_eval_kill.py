"""An eval of 40 cases (100 with EVAL_KILL_CASES=100) survives kill -9: the local server
(`python -m core.devserver`, its in-process queue and sweeper) is SIGKILLed while the eval's
cases run, started again on the same database, and the eval completes with each case run
exactly once."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from tests.e2e.conftest import free_port, start_server, stop_server
from tests.e2e.protocol_callers import agent, user_with_key

CASES = int(os.environ.get("EVAL_KILL_CASES", "40"))  # 100 by hand: EVAL_KILL_CASES=100
WORDS = " ".join(f"w{i}" for i in range(20))  # test-echo says each back 20 ms apart


@pytest.mark.slow
def test_an_eval_killed_with_kill_9_completes_each_case_once(fresh_database_url: str) -> None:
    settings = {
        "DATABASE_URL": fresh_database_url,
        "EXECUTION_LEASE_S": "5",
        "SWEEP_INTERVAL_S": "1",
        "EVAL_STALL_S": "5",
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_server(settings, port)
    http = requests.Session()

    def call(method: str, path: str, **kwargs: Any) -> Any:
        response = http.request(method, base + path, timeout=30, **kwargs)
        assert response.status_code < 300, response.text
        return response.json()

    class Caller:
        url = base

        def post(self, path: str, **kwargs: Any) -> Any:
            return http.post(base + path, timeout=30, **kwargs)

    try:
        headers, _ = user_with_key(Caller())
        echo = agent(Caller(), headers, "echo")
        cases = [{"name": f"case {i:03}", "input": f"{i} {WORDS}"} for i in range(CASES)]
        made = call(
            "POST",
            f"/agents/{echo['id']}/eval-sets",
            json={
                "name": "echo",
                "cases": cases,
                "evaluators": [{"type": "regex", "pattern": "w19$"}],
            },
            headers=headers,
        )
        started = call(
            "POST", f"/agents/{echo['id']}/evals", json={"eval_set_id": made["id"]}, headers=headers
        )
        deadline = time.monotonic() + 60
        done = 0
        while time.monotonic() < deadline:
            done = call("GET", f"/evals/{started['id']}", headers=headers)["done"]
            if done >= CASES // 10:
                break
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # kill -9, mid-eval
        process.wait()
    assert 0 < done < CASES, "the eval was not mid-way when the server was killed"

    restarted = time.monotonic()
    process = start_server(settings, port)
    try:
        deadline = restarted + 120
        report: dict[str, Any] = {}
        while time.monotonic() < deadline:
            report = call("GET", f"/evals/{started['id']}", headers=headers)
            if report["status"] == "succeeded":
                break
            time.sleep(0.5)
        took = time.monotonic() - restarted
        assert report["status"] == "succeeded", report
        assert report["done"] == report["total"] == CASES
        assert report["pass_rate"] == 1.0
        ids = [case["execution_id"] for case in report["cases"]]
        assert len(set(ids)) == CASES
    finally:
        stop_server(process)
    engine = sa.create_engine(fresh_database_url)
    with engine.connect() as conn:
        runs = conn.execute(
            sa.text(
                "SELECT count(*), count(DISTINCT input) FROM agent_executions WHERE eval_id = :e"
            ),
            {"e": started["id"]},
        ).one()
    engine.dispose()
    assert tuple(runs) == (CASES, CASES)  # each case ran once: no second execution of any
    print(
        f"\neval of {CASES} cases, kill -9 after {done} were scored, restarted: succeeded "
        f"{took:.1f} s later, {runs[0]} executions for {CASES} cases"
    )
