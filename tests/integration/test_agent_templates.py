"""Agent kinds (DESIGN §7): static agents and templates defined in code (core/agents/builtin),
synced by migrate, read-only through the API; agents started from a template; templates admins
offer."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy.orm import Session

from core.agents.builtin import BUILTIN_AGENTS
from core.config import get_settings
from core.services.builtin_agents import SYSTEM_USERNAME, sync_builtin_agents
from tests.support.agents import create_agent, definition
from tests.support.api import assert_error, signed_up, signed_up_with_role

TEST_MODEL = {"provider": "test", "name": "test"}
TEMPLATES = {agent.name for agent in BUILTIN_AGENTS if agent.kind == "template"}


@pytest.fixture
def builtins(db: Session) -> dict[str, int]:
    return sync_builtin_agents(db, get_settings())


def templates(client: Any, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = client.get("/agents/templates?limit=100", headers=headers)
    assert response.status_code == 200, response.get_json()
    return {item["name"]: item for item in response.get_json()["items"]}


def listed(client: Any, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = client.get("/agents?limit=100", headers=headers)
    return {item["name"]: item for item in response.get_json()["items"]}


def test_migrate_syncs_the_builtins_once_then_follows_the_code(db: Session, builtins: Any) -> None:
    # (another test's migrate may have synced them into this database already)
    assert builtins["created"] + builtins["unchanged"] == len(BUILTIN_AGENTS)
    settings = get_settings()
    assert sync_builtin_agents(db, settings) == {
        "created": 0,
        "updated": 0,
        "retired": 0,
        "unchanged": len(BUILTIN_AGENTS),
    }
    reviewer = next(agent for agent in BUILTIN_AGENTS if agent.name == "reviewer")
    changed = dataclasses.replace(
        reviewer, definition={**reviewer.definition, "system_prompt": "be strict"}
    )
    others = [agent for agent in BUILTIN_AGENTS if agent.name not in ("reviewer", "researcher")]
    counts = sync_builtin_agents(db, settings, [*others, changed])
    assert (counts["updated"], counts["retired"]) == (1, 1)


def test_templates_are_listed_apart_from_the_agents_one_may_run(client: Any, builtins: Any) -> None:
    _, headers = signed_up(client)

    offered = templates(client, headers)
    assert set(offered) >= TEMPLATES
    assert len(TEMPLATES) >= 3
    assert all(item["agent_kind"] == "template" for item in offered.values())
    agents = listed(client, headers)
    assert agents["assistant"]["agent_kind"] == "static"
    assert not TEMPLATES & set(agents)


def test_an_agent_started_from_a_template_is_the_users_own(client: Any, builtins: Any) -> None:
    user, headers = signed_up(client)
    reviewer = templates(client, headers)["reviewer"]

    response = client.post(
        "/agents",
        headers=headers,
        json={"from_template": reviewer["id"], "name": "my-reviewer", "model": TEST_MODEL},
    )

    assert response.status_code == 201, response.get_json()
    agent = response.get_json()
    assert (agent["owner_id"], agent["agent_kind"], agent["version"]) == (
        user["id"],
        "dynamic",
        "1.0.0",
    )
    assert agent["display_name"] == reviewer["display_name"]
    assert agent["metadata"]["created_from"] == reviewer["id"]
    assert agent["definition"]["model"]["provider"] == "test"
    assert agent["definition"]["output_schema"] == reviewer["definition"]["output_schema"]
    # and it runs (the test provider answers in the template's output schema)
    run = client.post(f"/agents/{agent['id']}/execute", headers=headers, json={"input": "x"})
    assert run.status_code == 200, run.get_json()
    assert run.get_json()["status"] == "succeeded"
    assert set(run.get_json()["output"]) >= {"verdict", "issues"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"definition": definition(), "display_name": "x", "from_template": "TEMPLATE"}, 422),
        ({}, 422),
        ({"definition": definition(), "display_name": "x", "model": TEST_MODEL}, 422),
        ({"definition": definition()}, 422),
    ],
)
def test_a_create_names_one_source(client: Any, builtins: Any, body: Any, status: int) -> None:
    _, headers = signed_up(client)
    if body.get("from_template") == "TEMPLATE":
        body["from_template"] = templates(client, headers)["reviewer"]["id"]
    assert_error(client.post("/agents", headers=headers, json={"name": "x", **body}), status)


def test_only_templates_can_be_started_from(client: Any, builtins: Any) -> None:
    _, headers = signed_up(client)
    mine = create_agent(client, headers)
    assistant = listed(client, headers)["assistant"]
    for not_a_template in (mine["id"], assistant["id"], "00000000-0000-4000-8000-00000000abcd"):
        response = client.post(
            "/agents", headers=headers, json={"from_template": not_a_template, "name": "copy"}
        )
        assert_error(response, 404, "template_not_found")


def test_builtin_agents_are_read_only_even_for_admins(
    client: Any, db: Session, builtins: Any
) -> None:
    _, admin = signed_up_with_role(client, db, "admin")
    assistant = listed(client, admin)["assistant"]
    reviewer = templates(client, admin)["reviewer"]

    for agent in (assistant, reviewer):
        path = f"/agents/{agent['id']}"
        assert_error(
            client.patch(path, headers=admin, json={"description": "mine now"}),
            403,
            "builtin_read_only",
        )
        assert_error(client.delete(path, headers=admin), 403, "builtin_read_only")


def test_a_static_agent_runs_for_everyone(client: Any, builtins: Any) -> None:
    _, headers = signed_up(client)
    assistant = listed(client, headers)["assistant"]
    run = client.post(f"/agents/{assistant['id']}/execute", headers=headers, json={"input": "hi"})
    assert run.status_code == 200, run.get_json()
    assert run.get_json()["status"] == "succeeded"


def test_admins_offer_an_agent_as_a_template(client: Any, db: Session, builtins: Any) -> None:
    _, admin = signed_up_with_role(client, db, "admin")
    _, user = signed_up(client)
    offered = create_agent(
        client, admin, definition=definition(system_prompt="triage the bug report")
    )
    assert_error(
        client.patch(f"/agents/{offered['id']}", headers=user, json={"is_template": True}), 404
    )
    _, owner = signed_up(client)
    own = create_agent(client, owner)
    assert_error(
        client.patch(f"/agents/{own['id']}", headers=owner, json={"is_template": True}),
        403,
        "admin_only",
    )

    marked = client.patch(f"/agents/{offered['id']}", headers=admin, json={"is_template": True})
    assert marked.get_json()["is_template"] is True
    assert offered["name"] in templates(client, user)
    copy = client.post(
        "/agents", headers=user, json={"from_template": offered["id"], "name": "triage"}
    )
    assert copy.status_code == 201, copy.get_json()
    assert copy.get_json()["definition"]["system_prompt"] == "triage the bug report"


def test_the_system_account_cannot_sign_in(client: Any, builtins: Any) -> None:
    for password in ("!", "", "system"):
        response = client.post(
            "/auth/login", json={"username": SYSTEM_USERNAME, "password": password or "x"}
        )
        assert response.status_code in (401, 422)
