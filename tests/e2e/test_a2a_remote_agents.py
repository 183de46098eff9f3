"""An agent on one instance calls an agent on another over A2A: two `python -m core.devserver`
processes, each with its own database and users. The caller's API key for the far instance is
a credential of the near user, bound to 127.0.0.1; the near agent (TestModel, which calls every
tool it has) lists the far agent in `a2a_agents`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.e2e.conftest import free_port, start_server, stop_server
from tests.e2e.protocol_callers import agent, user_with_key


class Instance:
    """Another instance's HTTP API, as the `http` fixture is this one's."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def __getattr__(self, method: str) -> Any:
        def call(path: str, **kwargs: Any) -> requests.Response:
            kwargs.setdefault("timeout", 30)
            return self.session.request(method.upper(), self.url + path, **kwargs)

        return call


@pytest.fixture
def far(fresh_database_url: str) -> Iterator[Instance]:
    """A second instance on a database of its own (it migrates it at start, as make dev does)."""
    port = free_port()
    process = start_server({"DATABASE_URL": fresh_database_url}, port)
    try:
        yield Instance(f"http://127.0.0.1:{port}")
    finally:
        stop_server(process)


def test_an_agent_calls_an_agent_of_another_instance(http: Any, far: Instance) -> None:
    far_headers, far_key = user_with_key(far)
    helper = agent(far, far_headers, "helper")  # test-echo: says back what it heard
    near_headers, _ = user_with_key(http)
    credential = {"name": "far", "value": far_key, "allowed_hosts": ["127.0.0.1"]}
    assert http.post("/credentials", json=credential, headers=near_headers).status_code == 201
    card_url = f"{far.url}/a2a/agents/{helper['id']}/.well-known/agent-card.json"
    boss = agent(
        http,
        near_headers,
        "boss",
        model={"provider": "test", "name": "test"},
        a2a_agents=[
            {
                "name": "helper",
                "card_url": card_url,
                "headers": {"Authorization": {"credential": "far", "prefix": "Bearer "}},
            }
        ],
    )
    run = http.post(
        f"/agents/{boss['id']}/execute", json={"input": "ask the helper"}, headers=near_headers
    ).json()
    assert run["status"] == "succeeded", run
    events = http.get(f"/executions/{run['id']}/events", headers=near_headers).json()["items"]
    [asked] = [e["payload"] for e in events if e["type"] == "tool_call"]
    [heard] = [e["payload"] for e in events if e["type"] == "tool_result"]
    assert asked["tool_name"] == "helper"
    message = asked["args"]["message"]
    assert heard["content"] == message  # the far agent's answer is the tool's result
    assert far_key not in str(events) + str(run)
    # the far side: one run of its agent, by the key's owner, in a session (the contextId)
    [remote] = far.get("/executions", headers=far_headers).json()["items"]
    assert remote["agent_id"] == helper["id"]
    assert remote["status"] == "succeeded"
    assert remote["input"] == message
    assert remote["session_id"] is not None
    print(
        "near events:",
        [(e["type"], e["payload"].get("tool_name")) for e in events],
        "\nfar execution:",
        {k: remote[k] for k in ("id", "status", "input", "output", "session_id")},
    )
