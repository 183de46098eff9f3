"""What driving an eval costs over the same runs started by hand: 100 cases (test-echo, a
short input each) run as an eval (queued, a few at a time, each scored as it ends) against the
same 100 inputs started by hand as async executions, against one `make dev`-like process (its
in-process queue: 4 workers), wall time from the first request to the last run ended, in one
run. Both are warmed first (an eval of 5 cases and 5 async runs).

    .venv/bin/python bench/evals.py [--cases 100] [--database-url URL]"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from common import DEFAULT_DATABASE_URL, local_server, scratch_database  # type: ignore[import-not-found]  # noqa: E402

TERMINAL = {"succeeded", "failed", "cancelled", "timed_out"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    with scratch_database(args.database_url) as url, local_server(url) as http:
        base = http.base
        agent = http.post(
            f"{base}/agents",
            json={
                "name": "bench",
                "display_name": "Bench",
                "definition": {"model": {"provider": "test", "name": "test-echo"}},
            },
        ).json()
        inputs = [f"case {i} says hello" for i in range(args.cases)]
        by_hand(http, base, agent["id"], inputs[:5])  # warm both paths
        as_eval(http, base, agent["id"], inputs[:5])
        hand_s = by_hand(http, base, agent["id"], inputs)
        eval_s = as_eval(http, base, agent["id"], inputs)
    print(f"{args.cases} runs of test-echo, one process (4 queue workers), one run:")
    print(f"  started by hand as async executions  {hand_s:6.2f} s")
    print(f"  as an eval (scored as they end)       {eval_s:6.2f} s  ({eval_s / hand_s:.2f}x)")
    return 0


def by_hand(http: requests.Session, base: str, agent_id: str, inputs: list[str]) -> float:
    began = time.perf_counter()
    ids = [
        http.post(
            f"{base}/agents/{agent_id}/execute", json={"input": text, "mode": "async"}
        ).json()["id"]
        for text in inputs
    ]
    pending = set(ids)
    while pending:
        for run in list(pending):
            if http.get(f"{base}/executions/{run}").json()["status"] in TERMINAL:
                pending.discard(run)
        time.sleep(0.02)
    return time.perf_counter() - began


def as_eval(http: requests.Session, base: str, agent_id: str, inputs: list[str]) -> float:
    cases: list[dict[str, Any]] = [
        {"name": f"c{i}", "input": text, "expected": text} for i, text in enumerate(inputs)
    ]
    made = http.post(
        f"{base}/agents/{agent_id}/eval-sets",
        json={
            "name": f"bench {uuid.uuid4().hex[:4]}",
            "cases": cases,
            "evaluators": [{"type": "equals"}],
        },
    ).json()
    began = time.perf_counter()
    started = http.post(f"{base}/agents/{agent_id}/evals", json={"eval_set_id": made["id"]}).json()
    while True:
        report = http.get(f"{base}/evals/{started['id']}").json()
        if report["status"] in TERMINAL:
            assert report["pass_rate"] == 1.0, report
            return time.perf_counter() - began
        time.sleep(0.02)


if __name__ == "__main__":
    raise SystemExit(main())
