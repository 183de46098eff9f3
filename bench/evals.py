"""What driving an eval costs over the same runs started by hand: 100 cases (test-echo, a
short input each) run as an eval (queued, a few at a time, each scored as it ends) against the
same 100 inputs started by hand as async executions, against one `make dev`-like process (its
in-process queue: 4 workers), wall time from the first request to the last run ended, in one
run. Both are warmed first (an eval of 5 cases and 5 async runs), then take `--rounds` turns,
alternating, so that the shared machine's drift weighs on both alike; each round's ratio and
that of the totals are printed. The bench watches the runs
end in the database, not through the API: polling an eval's report (100 cases) 50 times a second
cost the service more CPU than driving the eval, and polling each run by hand costs it too; so
neither side's watching is measured.

    .venv/bin/python bench/evals.py [--cases 100] [--rounds 3] [--database-url URL]"""

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
from common import DEFAULT_DATABASE_URL, local_server, offline_agent, scratch_database  # type: ignore[import-not-found]  # noqa: E402

TERMINAL = {"succeeded", "failed", "cancelled", "timed_out"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--rounds", type=int, default=3, help="turns the two take, alternating")
    args = parser.parse_args()
    with scratch_database(args.database_url) as url, local_server(url) as http:
        base = http.base
        agent = offline_agent(http, "test-echo")
        inputs = [f"case {i} says hello" for i in range(args.cases)]
        watch = Watcher(url)
        by_hand(http, base, agent["id"], inputs[:5], watch)  # warm both paths
        as_eval(http, base, agent["id"], inputs[:5], watch)
        rounds = []
        for _ in range(args.rounds):
            rounds.append(
                (
                    by_hand(http, base, agent["id"], inputs, watch),
                    as_eval(http, base, agent["id"], inputs, watch),
                )
            )
        watch.close()
    print(f"{args.cases} runs of test-echo, one process (4 queue workers), one run:")
    for index, (hand_s, eval_s) in enumerate(rounds, 1):
        print(
            f"  round {index}: by hand as async executions {hand_s:5.2f} s, as an eval (scored"
            f" as they end) {eval_s:5.2f} s ({eval_s / hand_s:.2f}x)"
        )
    hand_total, eval_total = (sum(times) for times in zip(*rounds, strict=True))
    print(
        f"  all rounds: by hand {hand_total:.2f} s, as an eval {eval_total:.2f} s"
        f" ({eval_total / hand_total:.2f}x)"
    )
    return 0


class Watcher:
    """Reads from the database whether runs, or an eval, ended (every 20 ms)."""

    def __init__(self, database_url: str) -> None:
        import sqlalchemy as sa

        from core.db.engine import pg8000_url

        self._sa = sa
        self._engine = sa.create_engine(pg8000_url(database_url))

    def runs_ended(self, ids: list[str]) -> None:
        query = self._sa.text(
            "SELECT count(*) FROM agent_executions WHERE id = ANY(CAST(:ids AS uuid[]))"
            " AND status::text = ANY(:ended)"
        )
        self._until(query, {"ids": ids, "ended": sorted(TERMINAL)}, len(ids))

    def eval_ended(self, eval_id: str) -> None:
        query = self._sa.text(
            "SELECT count(*) FROM evals WHERE id = CAST(:id AS uuid) AND status::text = ANY(:ended)"
        )
        self._until(query, {"id": eval_id, "ended": sorted(TERMINAL)}, 1)

    def _until(self, query: Any, params: dict[str, Any], count: int) -> None:
        with self._engine.connect() as conn:
            while conn.execute(query, params).scalar() != count:
                conn.rollback()
                time.sleep(0.02)

    def close(self) -> None:
        self._engine.dispose()


def by_hand(
    http: requests.Session, base: str, agent_id: str, inputs: list[str], watch: Watcher
) -> float:
    began = time.perf_counter()
    ids = [
        http.post(
            f"{base}/agents/{agent_id}/execute", json={"input": text, "mode": "async"}
        ).json()["id"]
        for text in inputs
    ]
    watch.runs_ended(ids)
    return time.perf_counter() - began


def as_eval(
    http: requests.Session, base: str, agent_id: str, inputs: list[str], watch: Watcher
) -> float:
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
    watch.eval_ended(started["id"])
    took = time.perf_counter() - began
    report = http.get(f"{base}/evals/{started['id']}").json()
    assert (report["status"], report["pass_rate"]) == ("succeeded", 1.0), report
    return took


if __name__ == "__main__":
    raise SystemExit(main())
