"""The agents API as its callers see it: create, list, read, update (versions), rollback, soft
delete, definition validation with JSON paths, the catalog, and synchronous runs with their
executions and events."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from core.config import get_settings, reset_settings
from tests.conftest import unique_name
from tests.support.api import assert_error, signed_up

# tools that need no configuration (delegate names the agents it may call)
TOOL_NAMES = ("file_read", "file_write", "grep", "find", "web_search")
UNCONFIGURED_MODEL = {"provider": "google-vertex", "name": "gemini-2.5-flash"}  # without_vertex


def definition(**changes: Any) -> dict[str, Any]:
    """A valid definition on the offline test provider, with `changes` on top."""
    return {"model": {"provider": "test", "name": "test"}, "system_prompt": "be brief"} | changes


def tools(*names: str) -> list[dict[str, Any]]:
    return [{"name": name, "enabled": True, "config": {}} for name in names]


def agent_body(**fields: Any) -> dict[str, Any]:
    return {
        "name": unique_name("agent"),
        "display_name": "Test agent",
        "definition": definition(),
    } | fields


def create(client: Any, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = client.post("/agents", headers=headers, json=agent_body(**fields))
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def patch(client: Any, headers: dict[str, str], agent_id: str, **fields: Any) -> dict[str, Any]:
    response = client.patch(f"/agents/{agent_id}", headers=headers, json=fields)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def execute(client: Any, headers: dict[str, str], agent_id: str, **body: Any) -> Any:
    return client.post(f"/agents/{agent_id}/execute", headers=headers, json={"input": "hi"} | body)


def listed(client: Any, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get("/agents", headers=headers, query_string=params)
    assert response.status_code == 200, response.get_json()
    return list(response.get_json()["items"])


def error_paths(response: Any) -> list[str]:
    body = assert_error(response, 422, "validation_error")
    return [detail["path"] for detail in body["details"]]


def stamp_versions_in_order(db: Any, agent_id: str, order: list[str] | None = None) -> None:
    """Give the agent's versions distinct created_at (in version order, or in `order`), as
    separate requests (separate transactions) do in production: inside a test's single
    transaction now() is one instant for every row."""
    from sqlalchemy import select

    from core.models.agents import AgentVersion

    rows = db.scalars(select(AgentVersion).where(AgentVersion.agent_id == uuid.UUID(agent_id)))
    by_version = {row.version: row for row in rows}
    order = order or sorted(by_version, key=lambda v: tuple(int(p) for p in v.split(".")))
    for offset, row in enumerate(by_version[version] for version in order):
        row.created_at = row.created_at + timedelta(seconds=offset)
    db.flush()


@pytest.fixture
def user(client):
    return signed_up(client)


@pytest.fixture
def without_vertex(monkeypatch):
    """No VERTEX_PROJECT: the Vertex providers are not configured."""
    monkeypatch.delenv("VERTEX_PROJECT", raising=False)
    reset_settings()
    yield
    reset_settings()


@pytest.fixture
def with_vertex_project(monkeypatch):
    monkeypatch.setenv("VERTEX_PROJECT", "demo-project")
    reset_settings()
    yield
    reset_settings()


# -- create --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "model"),
    [("test", "test"), ("google-vertex", "gemini-2.5-flash"), ("anthropic-vertex", None)],
)
def test_a_definition_without_a_model_gets_the_deployments_default(
    client, user, monkeypatch, provider, model
):
    monkeypatch.setenv("DEFAULT_MODEL_PROVIDER", provider)
    reset_settings()
    try:
        _, headers = user
        body = agent_body()
        body["definition"] = {"system_prompt": "no model named"}
        created = client.post("/agents", headers=headers, json=body).get_json()
        stored = created["definition"]["model"]
        assert stored["provider"] == provider
        assert stored["name"] == (model or stored["name"])
        assert stored["name"].startswith(
            {"test": "test", "google-vertex": "gemini", "anthropic-vertex": "claude"}[provider]
        )
        named = client.post(
            "/agents",
            headers=headers,
            json=agent_body() | {"definition": {"model": {"provider": "test", "name": "test"}}},
        ).get_json()
        assert named["definition"]["model"]["provider"] == "test"  # a named model is kept
    finally:
        monkeypatch.delenv("DEFAULT_MODEL_PROVIDER")
        reset_settings()


def test_create_returns_the_agent_at_version_1_0_0_owned_by_the_caller(client, user):
    me, headers = user
    body = agent_body(description="summarises things", metadata={"team": "docs"})
    body["definition"] = definition(tools=tools(*TOOL_NAMES))
    response = client.post("/agents", headers=headers, json=body)

    assert response.status_code == 201, response.get_json()
    agent = response.get_json()
    assert agent["version"] == "1.0.0"
    assert agent["owner_id"] == me["id"]
    assert agent["agent_type"] == "single"
    assert agent["scope"] == "private"
    assert agent["is_active"] is True
    assert agent["name"] == body["name"]
    assert agent["description"] == "summarises things"
    assert agent["metadata"] == {"team": "docs"}
    assert [tool["name"] for tool in agent["definition"]["tools"]] == list(TOOL_NAMES)
    assert client.get(f"/agents/{agent['id']}", headers=headers).get_json() == agent


def test_create_stores_the_first_version(client, user):
    _, headers = user
    agent = create(client, headers)
    versions = client.get(f"/agents/{agent['id']}/versions", headers=headers).get_json()
    assert [v["version"] for v in versions["items"]] == ["1.0.0"]
    assert versions["items"][0]["definition"] == agent["definition"]


def test_a_workflow_definition_makes_a_workflow_agent(client, user):
    _, headers = user
    step = create(client, headers)
    workflow = {"type": "sequential", "steps": [step["id"]]}
    agent = create(client, headers, definition=definition(workflow=workflow))
    assert agent["agent_type"] == "workflow"


def test_a_name_is_unique_per_owner_ignoring_case(client, user):
    _, headers = user
    name = unique_name("Helper")
    create(client, headers, name=name)
    response = client.post("/agents", headers=headers, json=agent_body(name=name.lower()))
    assert_error(response, 409, "agent_name_taken")

    _, other_headers = signed_up(client)
    assert create(client, other_headers, name=name)["name"] == name


def test_a_deleted_agents_name_can_be_used_again(client, user):
    _, headers = user
    first = create(client, headers)
    assert client.delete(f"/agents/{first['id']}", headers=headers).status_code == 204
    assert create(client, headers, name=first["name"])["id"] != first["id"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("owner_id", str(uuid.uuid4())),
        ("version", "9.9.9"),
        ("id", str(uuid.uuid4())),
        ("agent_type", "workflow"),
        ("is_active", False),
    ],
)
def test_create_refuses_fields_the_server_sets(client, user, field, value):
    _, headers = user
    response = client.post("/agents", headers=headers, json=agent_body(**{field: value}))
    assert error_paths(response) == [field]


@pytest.mark.parametrize(
    ("field", "value"), [("owner_id", str(uuid.uuid4())), ("version", "9.9.9"), ("name", "x")]
)
def test_patch_refuses_fields_the_server_sets(client, user, field, value):
    _, headers = user
    agent = create(client, headers)
    response = client.patch(f"/agents/{agent['id']}", headers=headers, json={field: value})
    assert error_paths(response) == [field]
    assert client.get(f"/agents/{agent['id']}", headers=headers).get_json() == agent


# -- validation ----------------------------------------------------------------------------------

BAD_DEFINITIONS = [
    pytest.param(
        definition(tools=tools("teleport")), ["definition.tools[0].name"], id="unknown-tool"
    ),
    pytest.param(
        definition(tools=[{"name": "file_read", "config": {"max_bytes": 0}}]),
        ["definition.tools[0].config.max_bytes"],
        id="tool-config-out-of-range",
    ),
    pytest.param(
        definition(tools=[*tools("find"), {"name": "grep", "config": {"max_matches": "many"}}]),
        ["definition.tools[1].config.max_matches"],
        id="tool-config-wrong-type",
    ),
    pytest.param(
        definition(tools=[{"name": "grep", "config": {"colour": True}}]),
        ["definition.tools[0].config.colour"],
        id="tool-config-unknown-key",
    ),
    pytest.param(
        definition(tools=[*tools("grep"), *tools("grep")]),
        ["definition.tools"],
        id="duplicate-tools",
    ),
    pytest.param(
        definition(model={"provider": "openai", "name": "gpt-4o"}),
        ["definition.model.provider"],
        id="unknown-provider",
    ),
    pytest.param(
        definition(model={"provider": "test", "name": "gemini-2.5-flash"}),
        ["definition.model"],
        id="model-of-another-provider",
    ),
    pytest.param(
        definition(model={"provider": "test", "name": "test", "settings": {"temperature": "hot"}}),
        ["definition.model.settings.temperature"],
        id="temperature-hot",
    ),
    pytest.param(
        definition(model={"provider": "test", "name": "test", "settings": {"temperature": "0.2"}}),
        ["definition.model.settings.temperature"],
        id="temperature-as-string",
    ),
    pytest.param(
        definition(model={"provider": "test", "name": "test", "settings": {"temperature": 2.5}}),
        ["definition.model.settings.temperature"],
        id="temperature-too-high",
    ),
    pytest.param(
        definition(limits={"timeout_s": 0}), ["definition.limits.timeout_s"], id="timeout-zero"
    ),
    pytest.param(
        definition(limits={"timeout_s": 3601}),
        ["definition.limits.timeout_s"],
        id="timeout-over-an-hour",
    ),
    pytest.param(
        definition(output_schema={"type": "no-such-type"}),
        ["definition.output_schema"],
        id="output-schema-invalid",
    ),
    pytest.param(
        definition(output_schema={"type": "string"}),
        ["definition.output_schema"],
        id="output-schema-not-an-object",
    ),
    pytest.param(
        definition(temperature=0.2), ["definition.temperature"], id="unknown-top-level-key"
    ),
]


@pytest.mark.parametrize(("bad", "paths"), BAD_DEFINITIONS)
def test_create_names_the_path_of_each_bad_definition_field(client, user, bad, paths):
    _, headers = user
    response = client.post("/agents", headers=headers, json=agent_body(definition=bad))
    assert error_paths(response) == paths


@pytest.mark.parametrize(("bad", "paths"), BAD_DEFINITIONS)
def test_patch_names_the_path_of_each_bad_definition_field(client, user, bad, paths):
    _, headers = user
    agent = create(client, headers)
    response = client.patch(f"/agents/{agent['id']}", headers=headers, json={"definition": bad})
    assert error_paths(response) == paths
    assert client.get(f"/agents/{agent['id']}", headers=headers).get_json() == agent


def test_a_timeout_over_the_deployments_limit_is_refused_with_its_path(client, user):
    _, headers = user
    over = get_settings().max_execution_timeout_s + 1
    response = client.post(
        "/agents",
        headers=headers,
        json=agent_body(definition=definition(limits={"timeout_s": over})),
    )
    assert error_paths(response) == ["definition.limits.timeout_s"]


def test_every_bad_tool_is_reported_at_once(client, user):
    _, headers = user
    bad = definition(
        tools=[
            {"name": "teleport", "config": {}},
            {"name": "file_read", "config": {"max_bytes": -1}},
            {"name": "web_search", "config": {"max_uses": 0}},
        ]
    )
    response = client.post("/agents", headers=headers, json=agent_body(definition=bad))
    assert error_paths(response) == [
        "definition.tools[0].name",
        "definition.tools[1].config.max_bytes",
        "definition.tools[2].config.max_uses",
    ]


def test_a_valid_temperature_number_is_accepted(client, user):
    _, headers = user
    model = {"provider": "test", "name": "test", "settings": {"temperature": 0.2}}
    agent = create(client, headers, definition=definition(model=model))
    assert agent["definition"]["model"]["settings"]["temperature"] == 0.2


# -- list ----------------------------------------------------------------------------------------


def test_list_pages_through_every_agent_once_in_order(client, user):
    _, headers = user
    prefix = unique_name("paged")
    created = {create(client, headers, name=f"{prefix}-{i}")["id"] for i in range(5)}

    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        params = {"q": prefix, "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/agents", headers=headers, query_string=params).get_json()
        pages += 1
        assert len(page["items"]) <= 2
        seen += [agent["id"] for agent in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == created


def test_list_filters_by_text_in_name_display_name_or_description(client, user):
    _, headers = user
    marker = unique_name("Needle")
    by_name = create(client, headers, name=marker)
    by_display = create(client, headers, display_name=f"The {marker.upper()} finder")
    by_description = create(client, headers, description=f"looks for {marker.lower()}")
    create(client, headers, description="unrelated")

    found = {agent["id"] for agent in listed(client, headers, q=marker.lower())}
    assert found == {by_name["id"], by_display["id"], by_description["id"]}


def test_list_text_filter_treats_wildcards_literally(client, user):
    _, headers = user
    marker = unique_name("pct")
    literal = create(client, headers, description=f"{marker} 100% sure")
    create(client, headers, description=f"{marker} 1000 sure")
    assert [a["id"] for a in listed(client, headers, q=f"{marker} 100%")] == [literal["id"]]


def test_list_filters_by_scope(client, user):
    _, headers = user
    marker = unique_name("scoped")
    public = create(client, headers, name=f"{marker}-pub", scope="public")
    private = create(client, headers, name=f"{marker}-priv")

    assert [a["id"] for a in listed(client, headers, q=marker, scope="public")] == [public["id"]]
    assert [a["id"] for a in listed(client, headers, q=marker, scope="private")] == [private["id"]]
    assert_error(client.get("/agents?scope=secret", headers=headers), 422)


def test_list_shows_others_public_agents_but_not_their_private_ones(client, user):
    _, headers = user
    _, other_headers = signed_up(client)
    marker = unique_name("others")
    public = create(client, other_headers, name=f"{marker}-pub", scope="public")
    create(client, other_headers, name=f"{marker}-priv")

    assert [a["id"] for a in listed(client, headers, q=marker)] == [public["id"]]
    assert listed(client, headers, q=marker, owned="true") == []


@pytest.mark.parametrize("limit", [0, 101, "x"])
def test_list_refuses_a_bad_limit(client, user, limit):
    _, headers = user
    assert error_paths(client.get(f"/agents?limit={limit}", headers=headers)) == ["limit"]


def test_a_cursor_is_a_position_any_of_its_shape_pages_from(client, user):
    _, headers = user  # the caller's own: another test's public agent may be listed too
    for _ in range(3):
        create(client, headers)
    ids = [a["id"] for a in client.get("/agents?owned=true", headers=headers).get_json()["items"]]
    assert len(ids) == 3
    first = client.get("/agents?owned=true&limit=2", headers=headers).get_json()
    assert [a["id"] for a in first["items"]] == ids[:2]
    # the cursor is the last row's (created_at in microseconds, id): readable, and any such key
    # pages on from where it would sort
    micros, hex_id = first["next_cursor"].split("_")
    assert uuid.UUID(hex=hex_id) == uuid.UUID(first["items"][-1]["id"])
    after = client.get(f"/agents?owned=true&limit=2&cursor={first['next_cursor']}", headers=headers)
    assert [a["id"] for a in after.get_json()["items"]] == ids[2:]
    later = f"{int(micros) + 10**12}_{'f' * 32}"  # after everything: the whole list
    assert (
        len(client.get(f"/agents?owned=true&cursor={later}", headers=headers).get_json()["items"])
        == 3
    )
    assert (
        client.get("/agents?owned=true&cursor=0_" + "0" * 32, headers=headers).get_json()["items"]
        == []
    )
    # a cursor of another shape, or another list's, is a 422 naming it
    for cursor in ("not-a-cursor", "12", "1_2_3"):
        answer = client.get(f"/agents?cursor={cursor}", headers=headers)
        assert error_paths(answer) == ["cursor"], cursor


# -- get, update, versions, rollback -------------------------------------------------------------


def test_get_an_unknown_agent_is_404(client, user):
    _, headers = user
    assert_error(client.get(f"/agents/{uuid.uuid4()}", headers=headers), 404, "agent_not_found")
    assert_error(client.get("/agents/not-a-uuid", headers=headers), 404)


def test_patching_the_definition_stores_a_new_minor_version(client, user):
    _, headers = user
    agent = create(client, headers)
    new = definition(system_prompt="be thorough", tools=tools("grep"))
    updated = patch(client, headers, agent["id"], definition=new, change_note="more detail")

    assert updated["version"] == "1.1.0"
    assert updated["definition"]["system_prompt"] == "be thorough"
    stored = client.get(f"/agents/{agent['id']}/versions/1.1.0", headers=headers).get_json()
    assert stored["definition"] == updated["definition"]
    assert stored["change_note"] == "more detail"
    original = client.get(f"/agents/{agent['id']}/versions/1.0.0", headers=headers).get_json()
    assert original["definition"] == agent["definition"]


def test_patching_other_fields_keeps_the_version(client, user):
    _, headers = user
    agent = create(client, headers)
    updated = patch(client, headers, agent["id"], display_name="Renamed", description="new text")
    assert updated["display_name"] == "Renamed"
    assert updated["description"] == "new text"
    assert updated["version"] == "1.0.0"
    assert updated["definition"] == agent["definition"]


def test_patching_the_same_definition_keeps_the_version(client, user):
    _, headers = user
    agent = create(client, headers)
    same = patch(client, headers, agent["id"], definition=definition())
    assert same["version"] == "1.0.0"
    versions = client.get(f"/agents/{agent['id']}/versions", headers=headers).get_json()
    assert len(versions["items"]) == 1


def test_versions_are_listed_newest_first(client, db, user):
    _, headers = user
    agent = create(client, headers)
    patch(client, headers, agent["id"], definition=definition(system_prompt="two"))
    patch(client, headers, agent["id"], definition=definition(system_prompt="three"))
    stamp_versions_in_order(db, agent["id"])

    versions = client.get(f"/agents/{agent['id']}/versions", headers=headers).get_json()
    assert [v["version"] for v in versions["items"]] == ["1.2.0", "1.1.0", "1.0.0"]
    assert [v["definition"]["system_prompt"] for v in versions["items"]] == [
        "three",
        "two",
        "be brief",
    ]


def test_versions_are_listed_newest_first_even_when_written_by_racing_requests(client, db, user):
    _, headers = user
    agent = create(client, headers)
    patch(client, headers, agent["id"], definition=definition(system_prompt="two"))
    patch(client, headers, agent["id"], definition=definition(system_prompt="three"))
    # request A began first (earlier now()) but waited for B's row lock: A wrote 1.2.0
    stamp_versions_in_order(db, agent["id"], order=["1.0.0", "1.2.0", "1.1.0"])

    versions = client.get(f"/agents/{agent['id']}/versions", headers=headers).get_json()
    assert [v["version"] for v in versions["items"]] == ["1.2.0", "1.1.0", "1.0.0"]


def test_versions_page_without_gaps(client, user):
    _, headers = user
    agent = create(client, headers)
    for step in range(4):
        patch(client, headers, agent["id"], definition=definition(system_prompt=f"v{step}"))
    first = client.get(f"/agents/{agent['id']}/versions?limit=3", headers=headers).get_json()
    rest = client.get(
        f"/agents/{agent['id']}/versions",
        headers=headers,
        query_string={"limit": 3, "cursor": first["next_cursor"]},
    ).get_json()
    assert rest["next_cursor"] is None
    seen = [v["version"] for v in first["items"] + rest["items"]]
    assert sorted(seen) == ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"]


def test_an_unknown_version_is_404(client, user):
    _, headers = user
    agent = create(client, headers)
    response = client.get(f"/agents/{agent['id']}/versions/7.0.0", headers=headers)
    assert_error(response, 404, "version_not_found")


def test_rollback_restores_an_old_definition_as_a_new_version(client, user):
    _, headers = user
    agent = create(client, headers)
    patch(client, headers, agent["id"], definition=definition(system_prompt="changed"))

    response = client.post(
        f"/agents/{agent['id']}/rollback", headers=headers, json={"version": "1.0.0"}
    )

    assert response.status_code == 200, response.get_json()
    rolled = response.get_json()
    assert rolled["version"] == "1.2.0"
    assert rolled["definition"] == agent["definition"]
    stored = client.get(f"/agents/{agent['id']}/versions/1.2.0", headers=headers).get_json()
    assert stored["definition"] == agent["definition"]
    assert "1.0.0" in stored["change_note"]
    current = client.get(f"/agents/{agent['id']}", headers=headers).get_json()
    assert current["version"] == "1.2.0"
    assert current["definition"] == agent["definition"]


def test_rollback_to_an_unknown_version_is_409_and_changes_nothing(client, user):
    """The agent was found; the version the body names is not there (a 404 would read as the
    agent gone)."""
    _, headers = user
    agent = create(client, headers)
    response = client.post(
        f"/agents/{agent['id']}/rollback", headers=headers, json={"version": "3.0.0"}
    )
    error = assert_error(response, 409, "version_not_found")
    assert error["details"][0]["path"] == "version"
    assert client.get(f"/agents/{agent['id']}", headers=headers).get_json()["version"] == "1.0.0"


@pytest.mark.parametrize("version", ["latest", "1.0", "", None])
def test_rollback_needs_a_version_number(client, user, version):
    _, headers = user
    agent = create(client, headers)
    response = client.post(
        f"/agents/{agent['id']}/rollback", headers=headers, json={"version": version}
    )
    assert error_paths(response) == ["version"]


# -- delete --------------------------------------------------------------------------------------


def test_a_deleted_agent_is_gone_from_get_and_list(client, user):
    _, headers = user
    agent = create(client, headers)
    response = client.delete(f"/agents/{agent['id']}", headers=headers)
    assert response.status_code == 204
    assert response.get_data() == b""

    assert_error(client.get(f"/agents/{agent['id']}", headers=headers), 404, "agent_not_found")
    assert agent["id"] not in {a["id"] for a in listed(client, headers, q=agent["name"])}
    assert_error(client.delete(f"/agents/{agent['id']}", headers=headers), 404)


def test_a_deleted_agents_executions_stay_readable(client, user):
    _, headers = user
    agent = create(client, headers)
    run = execute(client, headers, agent["id"]).get_json()
    client.delete(f"/agents/{agent['id']}", headers=headers)

    assert client.get(f"/executions/{run['id']}", headers=headers).get_json() == run
    events = client.get(f"/executions/{run['id']}/events", headers=headers)
    assert events.status_code == 200
    assert events.get_json()["items"]
    listed_runs = client.get(f"/executions?agent_id={agent['id']}", headers=headers).get_json()
    assert [e["id"] for e in listed_runs["items"]] == [run["id"]]
    assert_error(execute(client, headers, agent["id"]), 404, "agent_not_found")


# -- catalog -------------------------------------------------------------------------------------


def test_catalog_lists_providers_with_models_and_whether_each_is_configured(
    client, user, without_vertex
):
    _, headers = user
    response = client.get("/agents/catalog", headers=headers)

    assert response.status_code == 200, response.get_json()
    providers = {p["name"]: p for p in response.get_json()["providers"]}
    assert set(providers) == {"google-vertex", "anthropic-vertex", "test"}
    assert providers["test"]["configured"] is True
    assert providers["test"]["models"] == ["test", "test-echo"]
    assert providers["google-vertex"]["configured"] is False
    assert providers["anthropic-vertex"]["configured"] is False
    assert "gemini-2.5-flash" in providers["google-vertex"]["models"]
    assert all(name.startswith("claude-") for name in providers["anthropic-vertex"]["models"])


def test_catalog_marks_vertex_providers_configured_with_a_project(
    client, user, with_vertex_project
):
    _, headers = user
    providers = client.get("/agents/catalog", headers=headers).get_json()["providers"]
    assert all(p["configured"] for p in providers)


def test_catalog_lists_every_tool_with_a_json_schema_of_its_config(client, user):
    _, headers = user
    tools_ = {
        t["name"]: t for t in client.get("/agents/catalog", headers=headers).get_json()["tools"]
    }

    assert set(tools_) == {*TOOL_NAMES, "delegate"}
    for tool in tools_.values():
        assert tool["description"]
        assert tool["config_schema"]["type"] == "object"
        assert "properties" in tool["config_schema"]
    assert "max_bytes" in tools_["file_read"]["config_schema"]["properties"]


def test_catalog_needs_a_signed_in_caller(client):
    assert_error(client.get("/agents/catalog"), 401)


# -- execute -------------------------------------------------------------------------------------


def test_a_sync_run_on_the_test_provider_succeeds(client, user):
    me, headers = user
    agent = create(client, headers)
    response = execute(client, headers, agent["id"], input="say hi")

    assert response.status_code == 200, response.get_json()
    run = response.get_json()
    assert run["status"] == "succeeded", run["error"]
    assert isinstance(run["output"], str)
    assert run["output"]
    assert run["error"] is None
    assert run["usage"]["requests"] >= 1
    assert run["agent_id"] == agent["id"]
    assert run["agent_version"] == "1.0.0"
    assert run["user_id"] == me["id"]
    assert run["input"] == "say hi"
    assert run["workflow_type"] == "single"
    assert run["mode"] == "sync"
    assert run["started_at"] <= run["finished_at"]
    assert client.get(f"/executions/{run['id']}", headers=headers).get_json() == run


def test_a_run_records_its_events_in_order(client, user):
    _, headers = user
    agent = create(client, headers)
    run = execute(client, headers, agent["id"], input="say hi").get_json()

    response = client.get(f"/executions/{run['id']}/events", headers=headers)

    assert response.status_code == 200, response.get_json()
    events = response.get_json()["items"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "user_message"
    assert events[0]["payload"]["content"] == "say hi"
    assert "model_response" in [e["type"] for e in events]
    assert events[-1]["type"] == "status"
    assert events[-1]["payload"]["status"] == "succeeded"
    assert {e["execution_id"] for e in events} == {run["id"]}


def test_events_page_by_seq(client, user):
    _, headers = user
    agent = create(client, headers)
    run = execute(client, headers, agent["id"]).get_json()
    url = f"/executions/{run['id']}/events"
    everything = client.get(url, headers=headers).get_json()["items"]

    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = client.get(url, headers=headers, query_string=params).get_json()
        seen += [e["seq"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["seq"] for e in everything]


def test_a_json_object_input_is_kept_as_json(client, user):
    _, headers = user
    agent = create(client, headers)
    run = execute(client, headers, agent["id"], input={"topic": "tides"}).get_json()
    assert run["status"] == "succeeded"
    assert run["input"] == {"topic": "tides"}


def test_the_same_idempotency_key_returns_the_same_execution(client, user):
    _, headers = user
    agent = create(client, headers)
    first = execute(client, headers, agent["id"], idempotency_key="run-1")
    again = execute(client, headers, agent["id"], idempotency_key="run-1")

    assert first.status_code == again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    runs = client.get(f"/executions?agent_id={agent['id']}", headers=headers).get_json()
    assert len(runs["items"]) == 1


def test_an_idempotency_key_is_per_user(client, user):
    _, headers = user
    agent = create(client, headers, scope="public")
    _, other_headers = signed_up(client)
    mine = execute(client, headers, agent["id"], idempotency_key="shared-key").get_json()
    theirs = execute(client, other_headers, agent["id"], idempotency_key="shared-key").get_json()
    assert mine["id"] != theirs["id"]


def test_reusing_an_idempotency_key_on_another_agent_is_a_conflict(client, user):
    _, headers = user
    first = create(client, headers)
    second = create(client, headers)
    execute(client, headers, first["id"], idempotency_key="once")
    response = execute(client, headers, second["id"], idempotency_key="once")
    assert_error(response, 409, "idempotency_conflict")


@pytest.mark.parametrize(
    "url",
    ["http://example.com/hook", "https://127.0.0.1/hook", "https://169.254.169.254/latest"],
)
def test_a_webhook_to_a_private_or_plain_http_address_is_refused(client, user, url):
    _, headers = user
    agent = create(client, headers)
    assert error_paths(execute(client, headers, agent["id"], webhook_url=url)) == ["webhook_url"]
    assert client.get(f"/executions?agent_id={agent['id']}", headers=headers).get_json() == {
        "items": [],
        "next_cursor": None,
    }


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"mode": "later"}, "mode"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "has space"}, "idempotency_key"),
        ({"priority": 1}, "priority"),
    ],
)
def test_execute_validates_its_body(client, user, body, path):
    _, headers = user
    agent = create(client, headers)
    assert path in error_paths(execute(client, headers, agent["id"], **body))


@pytest.mark.parametrize("value", [None, 42, ["a"]])
def test_a_bad_input_is_reported_at_its_own_path(client, user, value):
    _, headers = user
    agent = create(client, headers)
    assert set(error_paths(execute(client, headers, agent["id"], input=value))) == {"input"}


def test_execute_needs_an_input(client, user):
    _, headers = user
    agent = create(client, headers)
    response = client.post(f"/agents/{agent['id']}/execute", headers=headers, json={})
    assert error_paths(response) == ["input"]


def test_a_deactivated_agent_cannot_run_until_reactivated(client, user):
    _, headers = user
    agent = create(client, headers)
    assert patch(client, headers, agent["id"], is_active=False)["is_active"] is False
    assert_error(execute(client, headers, agent["id"]), 409, "agent_inactive")

    patch(client, headers, agent["id"], is_active=True)
    assert execute(client, headers, agent["id"]).status_code == 200


def test_a_one_step_workflow_runs_its_step_as_a_child(client, user):
    _, headers = user
    step = create(client, headers)
    workflow = {"type": "sequential", "steps": [step["id"]]}
    agent = create(client, headers, definition=definition(workflow=workflow))
    run = execute(client, headers, agent["id"]).get_json()
    assert (run["status"], run["workflow_type"]) == ("succeeded", "sequential")
    [child] = run["children"]
    assert (child["agent_id"], child["step_index"], child["status"]) == (step["id"], 0, "succeeded")


def test_a_run_on_an_unconfigured_provider_fails_as_an_execution(client, user, without_vertex):
    _, headers = user
    agent = create(client, headers, definition=definition(model=UNCONFIGURED_MODEL))
    response = execute(client, headers, agent["id"])
    assert response.status_code == 200, response.get_json()
    run = response.get_json()
    assert run["status"] == "failed"
    assert run["error"]["code"] == "provider_not_configured"


def test_a_run_records_the_agents_version_at_the_time(client, user):
    _, headers = user
    agent = create(client, headers)
    patch(client, headers, agent["id"], definition=definition(system_prompt="v2"))
    assert execute(client, headers, agent["id"]).get_json()["agent_version"] == "1.1.0"


# -- executions list -----------------------------------------------------------------------------


def test_executions_list_filters_by_agent_and_status(client, user, without_vertex):
    _, headers = user
    first = create(client, headers)
    second = create(client, headers)
    broken = create(client, headers, definition=definition(model=UNCONFIGURED_MODEL))
    a1 = execute(client, headers, first["id"]).get_json()
    a2 = execute(client, headers, first["id"]).get_json()
    b1 = execute(client, headers, second["id"]).get_json()
    failed = execute(client, headers, broken["id"]).get_json()

    def ids(**params: Any) -> set[str]:
        page = client.get("/executions", headers=headers, query_string=params).get_json()
        return {e["id"] for e in page["items"]}

    assert ids() == {a1["id"], a2["id"], b1["id"], failed["id"]}
    assert ids(agent_id=first["id"]) == {a1["id"], a2["id"]}
    assert ids(agent_id=second["id"]) == {b1["id"]}
    assert ids(status="succeeded") == {a1["id"], a2["id"], b1["id"]}
    assert ids(status="failed") == {failed["id"]}
    assert ids(agent_id=first["id"], status="failed") == set()
    assert error_paths(client.get("/executions?status=exploded", headers=headers)) == ["status"]


def test_executions_list_shows_only_the_callers_runs(client, user):
    _, headers = user
    agent = create(client, headers, scope="public")
    _, other_headers = signed_up(client)
    mine = execute(client, headers, agent["id"]).get_json()
    theirs = execute(client, other_headers, agent["id"]).get_json()

    page = client.get(f"/executions?agent_id={agent['id']}", headers=headers).get_json()
    assert [e["id"] for e in page["items"]] == [mine["id"]]
    page = client.get(f"/executions?agent_id={agent['id']}", headers=other_headers).get_json()
    assert [e["id"] for e in page["items"]] == [theirs["id"]]


def test_executions_list_pages_without_gaps(client, user):
    _, headers = user
    agent = create(client, headers)
    runs = {execute(client, headers, agent["id"]).get_json()["id"] for _ in range(3)}
    first = client.get("/executions?limit=2", headers=headers).get_json()
    rest = client.get(
        "/executions", headers=headers, query_string={"limit": 2, "cursor": first["next_cursor"]}
    ).get_json()
    seen = [e["id"] for e in first["items"] + rest["items"]]
    assert len(seen) == len(set(seen)) == 3
    assert set(seen) == runs
    assert rest["next_cursor"] is None


def test_an_unknown_execution_is_404(client, user):
    _, headers = user
    missing = uuid.uuid4()
    assert_error(client.get(f"/executions/{missing}", headers=headers), 404, "execution_not_found")
    assert_error(client.get(f"/executions/{missing}/events", headers=headers), 404)
