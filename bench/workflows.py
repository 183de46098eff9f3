"""A 3-step sequential workflow beside 3 separate executions, in one run, through the agents
function (functions-framework, gunicorn 1 worker x 8 threads) on the offline test provider.

The workflow runs its steps as child executions (rows, events and usage each); the baseline is
the client making the 3 executions itself, one after the other. Reported: p50/p95 of each, and
the workflow's overhead per step.

    .venv/bin/python bench/workflows.py [--runs 100] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from common import (  # type: ignore[import-not-found]
    DEFAULT_DATABASE_URL,
    bench_environment,
    bench_user_headers,
    function_process,
    scratch_database,
)
from execute import AGENTS, Client  # type: ignore[import-not-found]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    with scratch_database(args.database_url) as database_url:
        env = bench_environment(database_url)
        headers = bench_user_headers()
        with function_process(AGENTS, "entry", env, ready_path="/openapi.json") as port:
            client = Client(port, headers)
            steps = []
            for name in ("one", "two", "three"):
                status, agent = client.post(
                    "/",
                    {
                        "name": name,
                        "display_name": name,
                        "definition": {
                            "model": {"provider": "test", "name": "test"},
                            "system_prompt": name,
                        },
                    },
                )
                assert status == 201, agent
                steps.append(agent["id"])
            status, flow = client.post(
                "/",
                {
                    "name": "flow",
                    "display_name": "Flow",
                    "definition": {"workflow": {"type": "sequential", "steps": steps}},
                },
            )
            assert status == 201, flow

            def workflow_once() -> float:
                started = time.perf_counter()
                status, run = client.post(f"/{flow['id']}/execute", {"input": "go"})
                if status != 200 or run["status"] != "succeeded":
                    raise RuntimeError(f"workflow run: {status} {run}")
                return (time.perf_counter() - started) * 1000

            def separate_once() -> float:
                started = time.perf_counter()
                text = "go"
                for step in steps:
                    status, run = client.post(f"/{step}/execute", {"input": text})
                    if status != 200 or run["status"] != "succeeded":
                        raise RuntimeError(f"step run: {status} {run}")
                    text = run["output"]
                return (time.perf_counter() - started) * 1000

            for _ in range(10):  # warm-up
                workflow_once()
                separate_once()
            workflow_ms, separate_ms = [], []
            for _ in range(args.runs):  # interleaved so noise hits both alike
                workflow_ms.append(workflow_once())
                separate_ms.append(separate_once())

    def p(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1]

    print(
        f"3-step sequential workflow vs 3 separate executions, {args.runs} runs each, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    print(f"{'':<22} {'p50 ms':>8} {'p95 ms':>8}")
    print(f"{'workflow (1 request)':<22} {p(workflow_ms, 50):>8.2f} {p(workflow_ms, 95):>8.2f}")
    print(f"{'3 separate requests':<22} {p(separate_ms, 50):>8.2f} {p(separate_ms, 95):>8.2f}")
    overhead = (p(workflow_ms, 50) - p(separate_ms, 50)) / 3
    print(f"workflow overhead per step (p50): {overhead:+.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
