"""Time to the first streamed text: a streamed execute (`Accept: text/event-stream`) on the
agents function vs a bare pydantic-ai floor, for the same Gemini model, in one run.

Both talk to the local fake Vertex (tests/support/fake_vertex.py, `:streamGenerateContent`,
the text word by word), so the time measured is what each side adds before the model's first
word reaches the caller. The service authenticates, checks access, writes the run and its first
event, starts the run on its pool and relays the first delta; the floor
(bench/streaming_targets/floor.py) only calls the model. Both under functions-framework
(gunicorn 1 worker x 8 threads). Reported: p50/p95 of sequential requests, each on a new
connection, and the total time to the end of the stream.

    .venv/bin/python bench/streaming.py [--requests 200] [--database-url URL]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import time
from pathlib import Path

from common import (  # type: ignore[import-not-found]
    DEFAULT_DATABASE_URL,
    HOST,
    ROOT,
    bench_environment,
    bench_user_headers,
    function_process,
    scratch_database,
)

TARGETS = Path(__file__).resolve().parent / "streaming_targets"


def first_delta_ms(port: int, path: str, headers: dict[str, str]) -> tuple[float, float]:
    """(ms to the first text_delta, ms to the end of the stream)."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    conn.request(
        "POST",
        path,
        json.dumps({"input": "tell me"}),
        {**headers, "Content-Type": "application/json", "Accept": "text/event-stream"},
    )
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}: {response.read()[:300]!r}")
    first = None
    while True:
        # the raw chunked body, line by line (HTTPResponse.readline waits on more than a line)
        line = response.fp.readline()
        if not line or line == b"0\r\n":  # the last chunk
            break
        if first is None and line.startswith(b"event: text_delta"):
            first = (time.perf_counter() - started) * 1000
    conn.close()
    if first is None:
        raise RuntimeError(f"{path} streamed no text")
    return first, (time.perf_counter() - started) * 1000


def measure(port: int, path: str, headers: dict[str, str], n: int) -> tuple[list[float], float]:
    for _ in range(10):
        first_delta_ms(port, path, headers)
    runs = [first_delta_ms(port, path, headers) for _ in range(n)]
    return [first for first, _ in runs], statistics.median(total for _, total in runs)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.support.fake_vertex import FakeVertex, text

    words = " ".join(f"word{i}" for i in range(40))
    with FakeVertex() as fake, scratch_database(args.database_url) as database_url:
        fake.gemini.default = text(words)
        env = bench_environment(database_url) | {
            "VERTEX_PROJECT": "proj",
            "VERTEX_LOCATION": "us-central1",
            "VERTEX_BASE_URL": fake.url,
        }
        os.environ.update(env)
        headers = bench_user_headers()
        with (
            function_process(
                TARGETS / "service.py", "entry", env, ready_path="/openapi.json"
            ) as service_port,
            function_process(TARGETS / "floor.py", "floor", env) as floor_port,
        ):
            conn = http.client.HTTPConnection(HOST, service_port, timeout=60)
            conn.request(
                "POST",
                "/",
                json.dumps(
                    {
                        "name": "bench",
                        "display_name": "Bench",
                        "definition": {
                            "model": {"provider": "google-vertex", "name": "gemini-2.5-flash"},
                            "system_prompt": "be brief",
                        },
                    }
                ),
                {**headers, "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            agent = json.loads(response.read())
            if response.status != 201:
                raise RuntimeError(f"creating the agent answered {response.status}: {agent}")
            floor, floor_total = measure(floor_port, "/", {}, args.requests)
            service, service_total = measure(
                service_port, f"/{agent['id']}/execute", headers, args.requests
            )
            floor2, _ = measure(floor_port, "/", {}, args.requests)
            floor += floor2

    print(f"time to the first text_delta; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    for name, values, total in (
        ("floor (bare pydantic-ai)", floor, floor_total),
        ("service (streamed execute)", service, service_total),
    ):
        print(
            f"  {name:28} p50 {statistics.median(values):6.2f} ms  p95 {pct(values, 0.95):6.2f} ms"
            f"  (whole stream p50 {total:6.2f} ms)"
        )
    ratio = statistics.median(service) / statistics.median(floor)
    print(f"  service / floor at p50: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
