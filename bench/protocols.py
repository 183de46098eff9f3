"""What each protocol adapter adds to a plain execute: the same agent (the offline `test`
model) run `--calls` times through POST /agents/{id}/execute and through each adapter, calls
interleaved (one client, one at a time) against `make dev`'s process, p50 each in one run.

    .venv/bin/python bench/protocols.py [--calls 200] [--database-url URL]

Adapters: the OpenAI chat completions (/v1/chat/completions), A2A's SendMessage (a new context,
hence a new session, each call) and MCP's tools/call (/mcp, one JSON-RPC message per request, as
the stateless mode sends it)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from common import DEFAULT_DATABASE_URL, local_server, offline_agent, scratch_database  # type: ignore[import-not-found]  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    with scratch_database(args.database_url) as url, local_server(url) as http:
        base = http.base
        agent = offline_agent(http, "test")
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
        a2a_message = calls["a2a send"][1]["params"]["message"]
        for round_ in range(20 + args.calls):  # the first 20 rounds warm every path
            for what, (target, body) in calls.items():
                # a message's id is its idempotency key: each call a new message
                a2a_message["messageId"] = uuid.uuid4().hex
                began = time.perf_counter()
                http.post(target, json=body).raise_for_status()
                if round_ >= 20:
                    samples[what].append((time.perf_counter() - began) * 1000)
    plain = statistics.median(samples["execute"])
    print(f"{args.calls} calls each, interleaved, one client; Python {sys.version.split()[0]}")
    for what, values in samples.items():
        p50 = statistics.median(values)
        print(f"  {what:12} p50 {p50:6.2f} ms  (+{p50 - plain:5.2f} ms over execute)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
