"""Remote A2A agents as an agent's tools (a definition's `a2a_agents`), against a real a2a-sdk
server on 127.0.0.1 (tests/support/a2a_remote.py), driven by FunctionModel scripts through the
API: the answer as the tool's result, one remote conversation per run, input-required and
failures as results, the caller's credential sent only where it may go, the egress rules at
every hop; and this service's own A2A server answering a message sent again with the task it
already made."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from core.a2a.toolset import CARDS
from core.config import reset_settings
from tests.integration.test_execution_runs import call, text
from tests.integration.test_mcp_tools import add_credential, run_script, tool_results
from tests.support.a2a_remote import A2A_TOKEN, A2aRemote
from tests.support.agents import create_agent, definition, events_of
from tests.support.api import assert_error, signed_up

TOKEN = A2A_TOKEN


@pytest.fixture
def remote(a2a_remote: A2aRemote) -> A2aRemote:
    return a2a_remote


@pytest.fixture(autouse=True)
def local_a2a_allowed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("A2A_ALLOWED_HOSTS", "127.0.0.1")
    reset_settings()
    CARDS.clear()
    yield
    reset_settings()


def helper(card_url: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": "helper",
        "card_url": card_url,
        "headers": {"Authorization": {"credential": "remote", "prefix": "Bearer "}},
    } | fields


def a2a_agent(client: Any, headers: dict[str, str], *agents: dict[str, Any]) -> str:
    made = create_agent(client, headers, definition=definition(a2a_agents=list(agents)))
    return str(made["id"])


def test_the_model_asks_a_remote_agent_and_hears_its_answer(client: Any, remote: A2aRemote) -> None:
    _, alice = signed_up(client)
    add_credential(client, alice, TOKEN, name="remote")
    agent_id = a2a_agent(client, alice, helper(remote.card_url))
    seen: list = []
    before = len(remote.messages())
    execution = run_script(
        client,
        alice,
        agent_id,
        call("helper", {"message": "hello"}, "c1"),
        call("helper", {"message": "and again"}, "c2"),
        text("done"),
        seen=seen,
    )
    assert execution["status"] == "succeeded", execution
    results = tool_results(client, alice, execution["id"])
    assert [r["content"] for r in results] == ["remote heard: hello", "remote heard: and again"]
    [tool] = seen[0][1].function_tools
    assert tool.name == "helper"
    assert "Remote helper" in (tool.description or "")
    assert "repeats a message" in (tool.description or "")  # its skills, from the card
    first, second = remote.messages()[before:]
    assert second["context_id"] == first["context_id"]  # one conversation per run
    assert first["message_id"] == str(
        uuid.uuid5(uuid.UUID("6f1c2a4e-3b8d-5e7f-9a01-a2a0a2a0a2a0"), f"{execution['id']}:c1")
    )  # the run and the call name the message: sent again, it is the same one
    everything = json.dumps(execution) + json.dumps(events_of(client, alice, execution["id"]))
    assert TOKEN not in everything
    sent = [r["authorization"] for r in remote.requests() if r["path"] == "/rpc"]
    assert sent[-2:] == [f"Bearer {TOKEN}"] * 2  # the caller's credential went with each
    listed = client.get("/credentials", headers=alice).get_json()["items"]
    assert listed[0]["last_used_at"] is not None


def test_input_required_and_a_failed_task_come_back_as_results(
    client: Any, remote: A2aRemote
) -> None:
    _, alice = signed_up(client)
    add_credential(client, alice, TOKEN, name="remote")
    agent_id = a2a_agent(client, alice, helper(remote.card_url))
    execution = run_script(
        client,
        alice,
        agent_id,
        call("helper", {"message": "ask me"}, "c1"),
        call("helper", {"message": "fail"}, "c2"),
        text("done"),
        seen=[],
    )
    assert execution["status"] == "succeeded", execution
    asked, failed = (r["content"] for r in tool_results(client, alice, execution["id"]))
    assert "needs input" in asked
    assert "which city?" in asked
    assert failed == "The agent helper could not do it: the remote broke"


def test_a_card_that_redirects_to_a_host_the_rules_refuse_is_never_reached(
    client: Any, remote: A2aRemote
) -> None:
    _, alice = signed_up(client)
    before = len(remote.requests())
    card_url = f"{remote.base}/moved"
    made = create_agent(
        client, alice, definition=definition(a2a_agents=[{"name": "helper", "card_url": card_url}])
    )
    seen: list = []
    execution = run_script(client, alice, made["id"], text("alone"), seen=seen)
    assert execution["status"] == "succeeded"
    messages, info = seen[0]
    assert info.function_tools == []  # no card, no tool
    said = json.dumps([str(m) for m in messages])
    assert "The remote agent helper is not available in this run" in said
    hosts = [(r["path"], r["host"].split(":")[0]) for r in remote.requests()[before:]]
    assert hosts == [("/moved", "127.0.0.1")]  # the redirect was not followed


def test_a_credential_never_follows_a_redirect_to_a_host_it_does_not_allow(
    client: Any, remote: A2aRemote, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("A2A_ALLOWED_HOSTS", "127.0.0.1,localhost")  # egress lets both through
    reset_settings()
    _, alice = signed_up(client)
    add_credential(client, alice, TOKEN, name="remote")  # 127.0.0.1 only
    # a header HTTP clients keep across hosts (they drop Authorization on their own)
    keyed = {"X-Api-Key": {"credential": "remote"}}
    agent_id = a2a_agent(client, alice, helper(f"{remote.base}/moved", headers=keyed))
    before = len(remote.requests())
    seen: list = []
    execution = run_script(client, alice, agent_id, text("alone"), seen=seen)
    assert execution["status"] == "succeeded"
    assert seen[0][1].function_tools == []
    said = json.dumps([str(m) for m in seen[0][0]])
    assert "localhost" in said  # the instructions say which host was refused
    hosts = [r["host"].split(":")[0] for r in remote.requests()[before:]]
    assert hosts == ["127.0.0.1"]  # the token stayed home: the redirect was not followed


def test_saving_refuses_what_could_not_be_sent(client: Any, remote: A2aRemote) -> None:
    _, alice = signed_up(client)

    def saved(*agents: dict[str, Any], **more: Any) -> Any:
        name = f"a_{uuid.uuid4().hex[:6]}"
        body = {"name": name, "display_name": name, "definition": definition(**more)}
        body["definition"]["a2a_agents"] = list(agents)
        return client.post("/agents", json=body, headers=alice)

    private = helper("http://10.0.0.7/.well-known/agent-card.json", headers={})
    refused = assert_error(saved(private), 422)
    assert [d["loc"][-3:] for d in refused["details"]] == [["a2a_agents", 0, "card_url"]]
    assert_error(saved(helper(remote.card_url)), 404, "credential_not_found")
    add_credential(client, alice, TOKEN, name="remote", hosts=("example.com",))
    assert_error(saved(helper(remote.card_url)), 409, "credential_host_not_allowed")
    assert_error(saved(helper(remote.card_url, name="grep", headers={})), 422)
    clash = {"name": "helper", "url": "https://mcp.example.com/mcp"}
    response = saved(helper(remote.card_url, headers={}), mcp_servers=[clash])
    assert_error(response, 409, "mcp_server_name_taken")


def test_a_message_sent_again_gets_the_task_it_made(client: Any) -> None:
    _, alice = signed_up(client)
    made = create_agent(
        client, alice, definition=definition(model={"provider": "test", "name": "test-echo"})
    )
    message = {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "parts": [{"text": "hi"}]}
    body = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": message}}
    first = client.post(f"/a2a/agents/{made['id']}", json=body, headers=alice).get_json()
    again = client.post(f"/a2a/agents/{made['id']}", json=body, headers=alice).get_json()
    assert first["result"]["task"]["id"] == again["result"]["task"]["id"]
    assert first["result"]["task"]["contextId"] == again["result"]["task"]["contextId"]
    runs = client.get(f"/executions?agent_id={made['id']}", headers=alice).get_json()["items"]
    assert len(runs) == 1
    sessions = client.get("/sessions", headers=alice).get_json()["items"]
    assert len(sessions) == 1  # no second, empty conversation either
