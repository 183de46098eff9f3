"""A thousand live followers on one `make dev` process: they wait on its event loop, not on
request threads, so /health and a sync execute answer as fast as with nobody following (within
100 ms of their idle p50), and the process keeps about the threads it had."""

from __future__ import annotations

import os

import pytest
import requests

from tests.e2e.conftest import free_port, start_server, stop_server
from tests.e2e.test_faults import new_agent, signed_up
from tests.support.followers import Followers, measure
from tests.support.report import report

FOLLOWERS = int(os.environ.get("FOLLOWERS", "1000"))


@pytest.mark.slow
def test_a_thousand_followers_starve_nothing(database_url: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_server(
        {"DATABASE_URL": database_url, "USER_MAX_STREAMS": str(FOLLOWERS + 10)}, port
    )
    try:
        headers = signed_up(base)
        agent = new_agent(base, headers)
        waiting = requests.post(
            f"{base}/agents",
            json={
                "name": "waits",
                "display_name": "Waits",
                "definition": {
                    "model": {"provider": "test", "name": "test"},
                    "tools": [{"name": "file_write", "requires_approval": True}],
                },
            },
            headers=headers,
            timeout=30,
        ).json()["id"]
        run = requests.post(
            f"{base}/agents/{waiting}/execute", json={"input": "go"}, headers=headers, timeout=60
        ).json()
        assert run["status"] == "waiting_approval"  # followed for as long as the test wants
        idle = measure(base, port, headers, agent)

        followers = Followers(base, f"/executions/{run['id']}/events", headers, FOLLOWERS)
        try:
            followers.open()
            assert (followers.connected, followers.refused) == (FOLLOWERS, [])
            busy = measure(base, port, headers, agent)
        finally:
            followers.close()
    finally:
        stop_server(process)
    report(
        "followers",
        f"idle: /health p50 {idle['health_p50_ms']:.1f} ms, execute p50 "
        f"{idle['execute_p50_ms']:.1f} ms, {idle['threads']} threads, {idle['rss_mib']:.0f} MiB",
    )
    report(
        "followers",
        f"{FOLLOWERS} followers open: /health p50 {busy['health_p50_ms']:.1f} ms, execute p50 "
        f"{busy['execute_p50_ms']:.1f} ms, {busy['threads']} threads, "
        f"{busy['rss_mib']:.0f} MiB",
    )
    assert busy["health_p50_ms"] <= idle["health_p50_ms"] + 100
    assert busy["execute_p50_ms"] <= idle["execute_p50_ms"] + 100
    # no thread per follower: the request and stream-read pools, whoever follows
    assert busy["threads"] < 40


def test_a_user_may_hold_so_many_streams_and_no_run_starts_for_a_refused_one(
    database_url: str,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_server({"DATABASE_URL": database_url, "USER_MAX_STREAMS": "2"}, port)
    try:
        headers = signed_up(base)
        agent = new_agent(base, headers)
        run = requests.post(
            f"{base}/agents/{agent}/execute", json={"input": "go"}, headers=headers, timeout=60
        ).json()
        path = f"/executions/{run['id']}/events"
        session = requests.post(
            f"{base}/sessions", json={"agent_id": agent}, headers=headers, timeout=30
        ).json()
        two = Followers(base, f"/sessions/{session['id']}/events", headers, 2)
        try:
            two.open()
            assert two.connected == 2
            third = requests.get(
                f"{base}{path}", headers={**headers, "Accept": "text/event-stream"}, timeout=30
            )
            assert third.status_code == 429
            assert third.json()["error"]["code"] == "too_many_streams"
            assert third.headers["Retry-After"]
            before = requests.get(f"{base}/executions", headers=headers, timeout=30).json()
            streamed = requests.post(
                f"{base}/agents/{agent}/execute",
                json={"input": "go"},
                headers={**headers, "Accept": "text/event-stream"},
                timeout=30,
            )
            assert streamed.status_code == 429
            after = requests.get(f"{base}/executions", headers=headers, timeout=30).json()
            assert [e["id"] for e in after["items"]] == [e["id"] for e in before["items"]]
        finally:
            two.close()
        # closed streams give their slots back
        for _ in range(50):
            again = requests.get(
                f"{base}{path}", headers={**headers, "Accept": "text/event-stream"}, timeout=30
            )
            if again.status_code == 200:
                break
        assert again.status_code == 200
        assert "event: end" in again.text
    finally:
        stop_server(process)
