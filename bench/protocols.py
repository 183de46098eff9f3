"""What each protocol adapter adds to a plain execute: the same agent (the offline `test`
model) run `--calls` times through POST /agents/{id}/execute and through each adapter, calls
interleaved (one client, one at a time) against `make dev`'s process, p50 each in one run.

    .venv/bin/python bench/protocols.py [--calls 200] [--database-url URL]

Adapters: the OpenAI chat completions (/v1/chat/completions), A2A's SendMessage (a new context,
hence a new session, each call) and MCP's tools/call (/mcp, one JSON-RPC message per request, as
the stateless mode sends it)."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from common import DEFAULT_DATABASE_URL, free_port, scratch_database  # type: ignore[import-not-found]  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    with scratch_database(args.database_url) as url:
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "PORT": str(port),
            "ACCESS_LOG": "/dev/null",
            "LOG_LEVEL": "WARNING",
            "USER_MAX_CONCURRENT_RUNS": "100000",
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
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if requests.get(f"{base}/health", timeout=1).ok:
                        break
                except requests.RequestException:
                    time.sleep(0.1)
            http = requests.Session()
            name = f"bench_{uuid.uuid4().hex[:6]}"
            password = "bench-password"
            http.post(
                f"{base}/auth/register",
                json={"username": name, "email": f"{name}@example.com", "password": password},
            )
            token = http.post(
                f"{base}/auth/login", json={"username": name, "password": password}
            ).json()["access_token"]
            http.headers["Authorization"] = f"Bearer {token}"
            agent = http.post(
                f"{base}/agents",
                json={
                    "name": "bench",
                    "display_name": "Bench",
                    "definition": {"model": {"provider": "test", "name": "test"}},
                },
            ).json()
            calls = {
                "execute": (f"{base}/agents/{agent['id']}/execute", {"input": "hello"}),
                "openai chat": (
                    f"{base}/v1/chat/completions",
                    {"model": agent["id"], "messages": [{"role": "user", "content": "hello"}]},
                ),
                "a2a send": (
                    f"{base}/a2a/agents/{agent['id']}",
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "SendMessage",
                        "params": {
                            "message": {
                                "messageId": "m",
                                "role": "ROLE_USER",
                                "parts": [{"text": "hello"}],
                            }
                        },
                    },
                ),
                "mcp call": (
                    f"{base}/mcp",
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "tools/call",
                        "params": {"name": "bench", "arguments": {"input": "hello"}},
                    },
                ),
            }
            samples: dict[str, list[float]] = {what: [] for what in calls}
            for _ in range(20):  # warm both paths
                for target, body in calls.values():
                    calls["a2a send"][1]["params"]["message"]["messageId"] = uuid.uuid4().hex
                    http.post(target, json=body).raise_for_status()
            a2a_message = calls["a2a send"][1]["params"]["message"]
            for _ in range(args.calls):
                for what, (target, body) in calls.items():
                    # a message's id is its idempotency key: each call a new message
                    a2a_message["messageId"] = uuid.uuid4().hex
                    began = time.perf_counter()
                    http.post(target, json=body).raise_for_status()
                    samples[what].append((time.perf_counter() - began) * 1000)
        finally:
            server.terminate()
            server.wait(timeout=30)
    plain = statistics.median(samples["execute"])
    print(f"{args.calls} calls each, interleaved, one client; Python {sys.version.split()[0]}")
    for what, values in samples.items():
        p50 = statistics.median(values)
        print(f"  {what:12} p50 {p50:6.2f} ms  (+{p50 - plain:5.2f} ms over execute)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
