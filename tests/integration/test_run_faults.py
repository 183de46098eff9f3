"""Faults of the run engine found by trying it as a user would (issue 14): cancels of dead runs,
model chains that fail as a group, definitions Gemini refuses, prompts of changed agents, lost
cost, a crash inside a sync run, bad paths, and the sweeper's first pass after a restart."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic_ai import ModelHTTPError
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.fallback import FallbackModel
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage
from sqlalchemy import update

from core.clock import utcnow
from core.config import get_settings
from core.models.executions import AgentExecution
from tests.support.agents import create_agent, definition, events_of, execute, tools
from tests.support.api import assert_error, signed_up
from tests.support.backends import answering


def worker_died(db: Any, execution_id: str) -> None:
    """What a worker killed mid-run leaves: running, claimed once, its lease run out."""
    db.execute(
        update(AgentExecution)
        .where(AgentExecution.id == uuid.UUID(execution_id))
        .values(status="running", attempt=1, lease_expires_at=utcnow() - timedelta(seconds=1))
    )


def start_turn(client: Any, headers: dict[str, str], agent_id: str) -> tuple[str, dict[str, Any]]:
    session = client.post("/sessions", headers=headers, json={"agent_id": agent_id}).get_json()
    turn = client.post(
        f"/sessions/{session['id']}/messages",
        headers=headers,
        json={"content": "hi", "mode": "async"},
    )
    assert turn.status_code == 202, turn.get_json()
    return session["id"], turn.get_json()


# -- a cancel after a crash ----------------------------------------------------------------------


def test_a_cancelled_run_whose_worker_died_ends_cancelled_at_the_next_sweep(
    client, db, queue, worker_headers
):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    session_id, turn = start_turn(client, headers, agent["id"])
    worker_died(db, turn["id"])
    assert client.post(f"/executions/{turn['id']}/cancel", headers=headers).status_code == 202

    swept = client.post("/tasks/sweep", headers=worker_headers).get_json()

    # at least this run (the sweep is the service's: tests that commit leave runs behind)
    assert swept["cancelled"] >= 1
    done = client.get(f"/executions/{turn['id']}", headers=headers).get_json()
    assert (done["status"], done["error"]["code"]) == ("cancelled", "cancelled")
    assert events_of(client, headers, turn["id"])[-1]["payload"] == {"status": "cancelled"}
    again = client.post(
        f"/sessions/{session_id}/messages", headers=headers, json={"content": "next"}
    )
    assert again.status_code == 200  # the session is not busy any more
    ended = events_of(client, headers, turn["id"])
    client.post("/tasks/sweep", headers=worker_headers)
    assert events_of(client, headers, turn["id"]) == ended  # not ended a second time


def test_a_delivery_of_a_cancelled_run_whose_worker_died_ends_it(client, db, queue, worker_headers):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    started = client.post(
        f"/agents/{agent['id']}/execute", headers=headers, json={"input": "x", "mode": "async"}
    ).get_json()
    worker_died(db, started["id"])
    client.post(f"/executions/{started['id']}/cancel", headers=headers)

    delivered = client.post(f"/tasks/executions/{started['id']}", headers=worker_headers)

    assert delivered.status_code == 200
    assert client.get(f"/executions/{started['id']}", headers=headers).get_json()["status"] == (
        "cancelled"
    )


def test_the_first_sweep_after_a_restart_requeues_runs_queued_just_now(client, queue, backends):
    from core.services.worker import sweep

    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    started = client.post(
        f"/agents/{agent['id']}/execute", headers=headers, json={"input": "x", "mode": "async"}
    ).get_json()
    queue.tasks.clear()
    # a periodic sweep leaves fresh runs alone
    sweep(backends)
    assert not any(task.path.endswith(started["id"]) for task in queue.tasks)
    assert sweep(backends, queued_after_s=0)["requeued"] >= 1
    assert any(task.path.endswith(started["id"]) for task in queue.tasks)


# -- model failures ------------------------------------------------------------------------------


def overloaded(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    raise ModelHTTPError(503, "vertex-model", "overloaded")


def refused(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    raise ModelHTTPError(400, "vertex-model", "bad request")


def test_a_fallback_chain_that_is_overloaded_everywhere_is_retried(client, queue, worker_headers):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    started = client.post(
        f"/agents/{agent['id']}/execute", headers=headers, json={"input": "x", "mode": "async"}
    ).get_json()
    chain = FallbackModel(FunctionModel(overloaded), FunctionModel(overloaded))

    with answering(client, chain):
        delivered = client.post(f"/tasks/executions/{started['id']}", headers=worker_headers)

    assert delivered.status_code == 503  # the queue brings it back
    run = client.get(f"/executions/{started['id']}", headers=headers).get_json()
    assert run["status"] == "running"


def test_a_fallback_chain_that_fails_for_good_is_a_model_error(client):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    chain = FallbackModel(FunctionModel(overloaded), FunctionModel(refused))

    with answering(client, chain):
        run = execute(client, headers, agent["id"]).get_json()

    assert (run["status"], run["error"]["code"]) == ("failed", "model_error")
    assert "every model failed" in run["error"]["message"]


# -- what Gemini's native search refuses ---------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "search_config", "other_tools", "field"),
    [
        ("gemini-2.5-flash", {}, ["file_read"], ["definition", "tools", 0, "name"]),
        ("gemini-3-flash", {"allowed_domains": ["a.io"]}, [], ["config", "allowed_domains"]),
        ("gemini-3-flash", {"max_uses": 3}, [], ["config", "max_uses"]),
    ],
)
def test_web_search_settings_gemini_refuses_are_a_422(
    client, model, search_config, other_tools, field
):
    _, headers = signed_up(client)
    listed = [{"name": "web_search", "enabled": True, "config": search_config}]
    listed += tools(*other_tools)
    response = client.post(
        "/agents",
        headers=headers,
        json={
            "name": "searcher",
            "display_name": "S",
            "definition": definition(
                model={"provider": "google-vertex", "name": model}, tools=listed
            ),
        },
    )
    body = assert_error(response, 422)
    locs = [detail["loc"] for detail in body["details"]]
    assert any(loc[-len(field) :] == field for loc in locs), locs


def test_a_fallback_to_an_older_gemini_is_checked_too(client):
    _, headers = signed_up(client)
    model = {
        "provider": "anthropic-vertex",
        "name": "claude-sonnet-4-6",
        "fallback": [{"provider": "google-vertex", "name": "gemini-2.5-pro"}],
    }
    response = client.post(
        "/agents",
        headers=headers,
        json={
            "name": "searcher",
            "display_name": "S",
            "definition": definition(model=model, tools=tools("web_search", "find")),
        },
    )
    assert_error(response, 422)


@pytest.mark.parametrize(
    ("model", "listed"),
    [
        ({"provider": "google-vertex", "name": "gemini-3-flash"}, ["web_search", "find"]),
        ({"provider": "google-vertex", "name": "gemini-2.5-flash"}, ["web_search"]),
        ({"provider": "anthropic-vertex", "name": "claude-sonnet-4-6"}, ["web_search", "find"]),
    ],
)
def test_web_search_combinations_that_work_are_accepted(client, model, listed):
    _, headers = signed_up(client)
    create_agent(client, headers, definition=definition(model=model, tools=tools(*listed)))


# -- a changed agent's prompt reaches its old sessions -------------------------------------------


def test_a_session_turn_after_a_patch_hears_the_new_prompt(client):
    _, headers = signed_up(client)
    agent = create_agent(client, headers, definition=definition(system_prompt="the old prompt"))
    session = client.post("/sessions", headers=headers, json={"agent_id": agent["id"]}).get_json()
    heard: list[str | None] = []

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        heard.append(info.instructions)
        return ModelResponse(parts=[TextPart("ok")])

    def say(content: str) -> None:
        turn = client.post(
            f"/sessions/{session['id']}/messages", headers=headers, json={"content": content}
        )
        assert turn.get_json()["status"] == "succeeded"

    with answering(client, FunctionModel(respond)):
        say("one")
        patched = client.patch(
            f"/agents/{agent['id']}",
            headers=headers,
            json={"definition": definition(system_prompt="the new prompt")},
        )
        assert patched.status_code == 200, patched.get_json()
        say("two")

    assert heard == ["the old prompt", "the new prompt"]


# -- cost ----------------------------------------------------------------------------------------


def priced(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(
        parts=[TextPart("ok")],
        usage=RequestUsage(input_tokens=10, output_tokens=5, cost=Decimal("0.001")),
    )


def test_a_workflow_costs_what_its_steps_cost(client):
    _, headers = signed_up(client)
    steps = [create_agent(client, headers)["id"] for _ in range(2)]
    flow = create_agent(
        client,
        headers,
        definition=definition(workflow={"type": "sequential", "steps": steps}),
    )
    with answering(client, FunctionModel(priced)):
        run = execute(client, headers, flow["id"]).get_json()
    assert run["status"] == "succeeded"
    assert Decimal(str(run["cost"])) == Decimal("0.002")
    fetched = client.get(f"/executions/{run['id']}", headers=headers).get_json()
    assert Decimal(str(fetched["cost"])) == Decimal("0.002")


# -- a crash inside a sync run -------------------------------------------------------------------


def test_a_sync_run_that_crashes_answers_failed_and_frees_its_session(client, monkeypatch):
    import core.agents.factory

    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    session = client.post("/sessions", headers=headers, json={"agent_id": agent["id"]}).get_json()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug while building the agent")

    monkeypatch.setattr(core.agents.factory, "agent_of_version", broken)
    turn = client.post(
        f"/sessions/{session['id']}/messages", headers=headers, json={"content": "hi"}
    )
    assert turn.status_code == 200
    assert (turn.get_json()["status"], turn.get_json()["error"]["code"]) == (
        "failed",
        "internal_error",
    )
    monkeypatch.undo()
    again = client.post(
        f"/sessions/{session['id']}/messages", headers=headers, json={"content": "hi"}
    )
    assert again.get_json()["status"] == "succeeded"


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["versions/1.0.0%00", "versions/%00"])
def test_a_nul_in_a_path_is_a_404(client, suffix):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    assert_error(client.get(f"/agents/{agent['id']}/{suffix}", headers=headers), 404)


# -- the embedded PostgreSQL after a kill -9 -----------------------------------------------------


def test_the_embedded_server_forgets_holders_that_were_killed(tmp_path):
    """A holder killed with its parent stays a zombie until reaped: it holds nothing."""
    import json
    import signal
    import time

    from core.db.embedded import forget_dead_holders

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = int(gone.stdout)
    zombie = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    os.kill(zombie.pid, signal.SIGKILL)
    time.sleep(0.2)  # killed, not yet waited for
    holders = tmp_path / ".handle_pids.json"
    holders.write_text(json.dumps([os.getpid(), dead, zombie.pid]))

    assert sorted(forget_dead_holders(tmp_path)) == sorted([dead, zombie.pid])
    assert json.loads(holders.read_text()) == [os.getpid()]
    zombie.wait()


def test_a_delivery_that_fails_unexpectedly_is_retried_at_once_until_the_budget_ends(
    client, queue, worker_headers, monkeypatch
):
    """A bug (here: building the agent fails) answers the documented 503, gives the lease up
    so the retry claims at once, and after EXECUTION_MAX_ATTEMPTS the run fails for good."""
    import core.agents.factory

    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    started = client.post(
        f"/agents/{agent['id']}/execute", headers=headers, json={"input": "x", "mode": "async"}
    ).get_json()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug while building the agent")

    monkeypatch.setattr(core.agents.factory, "agent_of_version", broken)
    path = f"/tasks/executions/{started['id']}"
    for _ in range(get_settings().execution_max_attempts):
        delivered = client.post(path, headers=worker_headers)
        assert delivered.status_code == 503
        assert delivered.headers["Retry-After"] == "5"
        assert delivered.get_json()["error"]["code"] == "internal_error"
        assert "bug" not in delivered.get_data(as_text=True)
    assert client.post(path, headers=worker_headers).status_code == 200
    run = client.get(f"/executions/{started['id']}", headers=headers).get_json()
    assert (run["status"], run["error"]["code"]) == ("failed", "too_many_attempts")


@pytest.mark.parametrize("url", ["http://example.com:8080", "http://10.0.0.1:8080"])
def test_the_sweep_command_sends_the_shared_secret_to_local_servers_only(url):
    from core.cli import sweep

    with pytest.raises(SystemExit, match="local server"):
        sweep(url)
