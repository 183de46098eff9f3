"""The marketplace: publish (snapshots without secrets), republish with history, unpublish,
moderation and who sees hidden listings, installs, ratings, workflow listings."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.conftest import unique_name
from tests.support.agents import create_agent, definition, tools
from tests.support.api import assert_error, signed_up, signed_up_with_role

# -- helpers shared by the marketplace test modules ----------------------------------------------


def publish(client: Any, headers: dict[str, str], agent_id: str, **fields: Any) -> dict[str, Any]:
    body = {"agent_id": agent_id, "category": "productivity", "tags": ["test"]} | fields
    response = client.post("/marketplace", headers=headers, json=body)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def published_agent(
    client: Any, headers: dict[str, str], *, agent: dict[str, Any] | None = None, **listing: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new agent of the caller and its listing."""
    agent = agent or {}
    created = create_agent(client, headers, **agent)
    return created, publish(client, headers, created["id"], **listing)


def install(client: Any, headers: dict[str, str], listing_id: str) -> dict[str, Any]:
    response = client.post(f"/marketplace/{listing_id}/install", headers=headers)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def rate(client: Any, headers: dict[str, str], listing_id: str, score: Any, **body: Any) -> Any:
    return client.post(
        f"/marketplace/{listing_id}/ratings", headers=headers, json={"score": score} | body
    )


def listing_of(client: Any, listing_id: str, headers: dict[str, str] | None = None) -> Any:
    return client.get(f"/marketplace/{listing_id}", headers=headers or {})


LISTING_FIELDS = {
    "id",
    "agent_id",
    "agent_version",
    "owner_id",
    "display_name",
    "summary",
    "category",
    "tags",
    "tools",
    "status",
    "rating_average",
    "rating_count",
    "install_count",
    "published_at",
}


# -- publish -------------------------------------------------------------------------------------


def test_publish_snapshots_the_agents_current_version(client):
    owner, headers = signed_up(client)
    agent = create_agent(
        client,
        headers,
        display_name="Code reviewer",
        description="Reviews pull requests",
        definition=definition(
            tools=[*tools("file_read", "grep"), {"name": "find", "enabled": False}]
        ),
    )
    listing = publish(
        client,
        headers,
        agent["id"],
        category="Dev-Tools",
        tags=["Review", "git", "review"],
        summary="Finds bugs before your colleagues do",
    )
    assert set(listing) >= LISTING_FIELDS
    assert listing["agent_id"] == agent["id"]
    assert listing["owner_id"] == owner["id"]
    assert listing["publisher"] == owner["username"]
    assert listing["agent_version"] == "1.0.0"
    assert listing["display_name"] == "Code reviewer"
    assert listing["category"] == "dev-tools"
    assert listing["tags"] == ["review", "git"]
    assert listing["tools"] == ["file_read", "grep"]
    assert (listing["status"], listing["rating_average"], listing["rating_count"]) == (
        "active",
        0,
        0,
    )
    assert listing["install_count"] == 0
    snapshot = listing["snapshot"]
    assert snapshot["name"] == agent["name"]
    assert snapshot["version"] == "1.0.0"
    assert snapshot["agent_type"] == "single"
    assert snapshot["definition"] == agent["definition"]
    # public: no token needed to read it
    assert listing_of(client, listing["id"]).get_json()["summary"] == listing["summary"]


def test_snapshot_drops_secret_tool_settings_at_any_depth(client, db):
    from core.models.agents import Agent

    _, headers = signed_up(client)
    agent = create_agent(client, headers, definition=definition(tools=tools("web_search")))
    row = db.get(Agent, uuid.UUID(agent["id"]))
    # tool configs are validated strictly today; a stored definition may still carry secrets
    # (an older tool, a future one), and none may leave through the marketplace
    row.definition = row.definition | {
        "tools": [
            {
                "name": "web_search",
                "enabled": True,
                "config": {
                    "api_key": "sk-live-one",
                    "apiKey": "sk-live-two",
                    "X-Auth-Token": "tok-three",
                    "max_uses": 5,
                    "allowed_domains": ["example.com"],
                    "backend": {
                        "url": "https://search.example.com",
                        "Client_Secret": "cs-four",
                        "headers": [{"Authorization": "Bearer bearer-five", "Accept": "json"}],
                        "credentials": {"user": "u", "password": "pw-six"},
                    },
                },
            }
        ]
    }
    db.flush()
    listing = publish(client, headers, agent["id"])
    text = json.dumps(listing)
    # markers no UUID or timestamp in the listing can contain ("b-5" once matched an id)
    for secret in ("sk-live-one", "sk-live-two", "tok-three", "cs-four", "bearer-five", "pw-six"):
        assert secret not in text
    config = listing["snapshot"]["definition"]["tools"][0]["config"]
    assert config == {
        "max_uses": 5,
        "allowed_domains": ["example.com"],
        "backend": {"url": "https://search.example.com", "headers": [{"Accept": "json"}]},
    }
    # the agent itself keeps its settings
    assert db.get(Agent, uuid.UUID(agent["id"])).definition["tools"][0]["config"]["api_key"]


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("api_key", True),
        ("API-KEY", True),
        ("apiKey", True),
        ("access_token", True),
        ("token", True),
        ("githubToken", True),
        ("client_secret", True),
        ("Password", True),
        ("credentials", True),
        ("private_key", True),
        ("auth", True),
        ("max_tokens", False),
        ("max_uses", False),
        ("allowed_domains", False),
        ("timeout_seconds", False),
        ("keyword", False),
    ],
)
def test_secret_setting_names(key, secret):
    from core.services.marketplace import is_secret_key

    assert is_secret_key(key) is secret


def test_an_editor_publishes_and_the_listing_belongs_to_the_agents_owner(client):
    owner, owner_headers = signed_up(client)
    editor, editor_headers = signed_up(client)
    agent = create_agent(client, owner_headers)
    client.put(
        f"/agents/{agent['id']}/permissions/{editor['id']}",
        headers=owner_headers,
        json={"level": "edit"},
    )
    listing = publish(client, editor_headers, agent["id"])
    assert listing["owner_id"] == owner["id"]


def test_publishing_someone_elses_agent_is_404_or_403_by_visibility(client):
    _, owner_headers = signed_up(client)
    reader, reader_headers = signed_up(client)
    _, stranger_headers = signed_up(client)
    agent = create_agent(client, owner_headers)
    client.put(
        f"/agents/{agent['id']}/permissions/{reader['id']}",
        headers=owner_headers,
        json={"level": "execute"},
    )
    body = {"agent_id": agent["id"], "category": "x"}
    assert_error(
        client.post("/marketplace", headers=stranger_headers, json=body), 404, "agent_not_found"
    )
    assert_error(
        client.post("/marketplace", headers=reader_headers, json=body), 403, "insufficient_access"
    )
    unknown = {"agent_id": str(uuid.uuid4()), "category": "x"}
    assert_error(client.post("/marketplace", headers=owner_headers, json=unknown), 404)
    assert_error(client.post("/marketplace", json=body), 401)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"category": ""}, ["body", "category"]),
        ({"category": "two words"}, ["body", "category"]),
        ({"tags": ["ok", "not ok"]}, ["body", "tags", 1]),
        ({"tags": [f"t{i}" for i in range(11)]}, ["body", "tags"]),
        ({"summary": "x" * 501}, ["body", "summary"]),
        ({"price": 3}, ["body", "price"]),
    ],
)
def test_publish_validates_the_listing_fields(client, body, loc):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    payload = {"agent_id": agent["id"], "category": "misc"} | body
    error = assert_error(client.post("/marketplace", headers=headers, json=payload), 422)
    assert error["details"][0]["loc"] == loc


def test_an_agent_is_listed_once_and_republishing_keeps_the_history(client):
    _, headers = signed_up(client)
    agent, listing = published_agent(client, headers)
    again = client.post(
        "/marketplace", headers=headers, json={"agent_id": agent["id"], "category": "x"}
    )
    error = assert_error(again, 409, "already_listed")
    assert listing["id"] in error["message"]

    changed = definition(system_prompt="be thorough", tools=tools("grep"))
    response = client.patch(f"/agents/{agent['id']}", headers=headers, json={"definition": changed})
    assert response.get_json()["version"] == "1.1.0"
    # the listing still shows what was published until the owner republishes
    assert listing_of(client, listing["id"]).get_json()["agent_version"] == "1.0.0"

    response = client.patch(
        f"/marketplace/{listing['id']}", headers=headers, json={"republish": True}
    )
    assert response.status_code == 200, response.get_json()
    republished = response.get_json()
    assert republished["agent_version"] == "1.1.0"
    assert republished["tools"] == ["grep"]
    assert republished["snapshot"]["definition"]["system_prompt"] == "be thorough"
    assert republished["published_at"] > listing["published_at"]

    versions = client.get(f"/marketplace/{listing['id']}/versions").get_json()["items"]
    assert [v["agent_version"] for v in versions] == ["1.1.0", "1.0.0"]
    assert versions[1]["snapshot"] == listing["snapshot"]
    assert versions[1]["tools"] == []

    # republishing an unchanged agent adds nothing
    client.patch(f"/marketplace/{listing['id']}", headers=headers, json={"republish": True})
    versions = client.get(f"/marketplace/{listing['id']}/versions").get_json()["items"]
    assert len(versions) == 2


def test_owner_changes_summary_category_and_tags(client):
    _, headers = signed_up(client)
    _, listing = published_agent(client, headers)
    response = client.patch(
        f"/marketplace/{listing['id']}",
        headers=headers,
        json={"summary": "better words", "category": "writing", "tags": ["Prose"]},
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["summary"], body["category"], body["tags"]) == (
        "better words",
        "writing",
        ["prose"],
    )
    assert body["agent_version"] == listing["agent_version"]


def test_others_cannot_change_a_listing_and_owners_cannot_moderate(client):
    _, owner_headers = signed_up(client)
    _, stranger_headers = signed_up(client)
    _, listing = published_agent(client, owner_headers)
    url = f"/marketplace/{listing['id']}"
    assert_error(
        client.patch(url, headers=stranger_headers, json={"summary": "mine now"}),
        403,
        "not_listing_owner",
    )
    assert_error(
        client.patch(url, headers=stranger_headers, json={"republish": True}),
        403,
        "not_listing_owner",
    )
    assert_error(
        client.patch(url, headers=owner_headers, json={"status": "featured"}), 403, "moderator_only"
    )
    assert_error(client.patch(url, json={"summary": "anonymous"}), 401)
    assert_error(client.patch(url, headers=owner_headers, json={"status": "deleted"}), 422)
    assert listing_of(client, listing["id"]).get_json()["summary"] == listing["summary"]


def test_unknown_listing_is_404_on_every_route(client):
    _, headers = signed_up(client)
    url = f"/marketplace/{uuid.uuid4()}"
    for response in (
        client.get(url),
        client.get(url, headers=headers),
        client.patch(url, headers=headers, json={"summary": "x"}),
        client.delete(url, headers=headers),
        client.get(f"{url}/versions"),
        client.get(f"{url}/ratings"),
        client.post(f"{url}/ratings", headers=headers, json={"score": 3}),
        client.post(f"{url}/install", headers=headers),
    ):
        assert_error(response, 404, "listing_not_found")


# -- moderation and visibility -------------------------------------------------------------------


def test_hidden_listing_is_seen_only_by_its_owner_moderators_and_admins(client, db):
    _, owner_headers = signed_up(client)
    _, stranger_headers = signed_up(client)
    _, moderator_headers = signed_up_with_role(client, db, "moderator")
    _, admin_headers = signed_up_with_role(client, db, "admin")
    word = unique_name("hid").replace("_", "")
    _, listing = published_agent(client, owner_headers, agent={"display_name": f"{word} agent"})
    response = client.patch(
        f"/marketplace/{listing['id']}", headers=moderator_headers, json={"status": "hidden"}
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "hidden"

    expected = {
        "anonymous": ({}, 404),
        "stranger": (stranger_headers, 404),
        "owner": (owner_headers, 200),
        "moderator": (moderator_headers, 200),
        "admin": (admin_headers, 200),
    }
    for who, (headers, status) in expected.items():
        assert listing_of(client, listing["id"], headers).status_code == status, who
        ratings = client.get(f"/marketplace/{listing['id']}/ratings", headers=headers)
        assert ratings.status_code == status, who
        # search never shows it, not even to those who may open it
        found = client.get("/marketplace", query_string={"q": word}, headers=headers)
        assert found.get_json()["items"] == [], who
    assert_error(
        client.post(f"/marketplace/{listing['id']}/install", headers=stranger_headers), 404
    )
    # the owner finds their own hidden listing among their listings
    own = client.get("/marketplace", query_string={"owned": "true"}, headers=owner_headers)
    assert [item["id"] for item in own.get_json()["items"]] == [listing["id"]]
    assert_error(client.get("/marketplace", query_string={"owned": "true"}), 401)

    back = client.patch(
        f"/marketplace/{listing['id']}", headers=admin_headers, json={"status": "active"}
    )
    assert back.get_json()["status"] == "active"
    assert listing_of(client, listing["id"], stranger_headers).status_code == 200


def test_moderators_feature_listings_and_featured_ones_can_be_filtered(client, db):
    _, owner_headers = signed_up(client)
    _, moderator_headers = signed_up_with_role(client, db, "moderator")
    category = unique_name("cat").replace("_", "-")
    _, plain = published_agent(client, owner_headers, category=category)
    _, star = published_agent(client, owner_headers, category=category)
    response = client.patch(
        f"/marketplace/{star['id']}", headers=moderator_headers, json={"status": "featured"}
    )
    assert response.get_json()["status"] == "featured"

    def ids(**params: Any) -> list[str]:
        found = client.get("/marketplace", query_string={"category": category, **params})
        return [item["id"] for item in found.get_json()["items"]]

    assert ids(featured="true") == [star["id"]]
    assert ids(featured="false") == [plain["id"]]
    assert set(ids()) == {plain["id"], star["id"]}


def test_a_moderator_who_does_not_own_the_listing_cannot_change_its_text(client, db):
    _, owner_headers = signed_up(client)
    _, moderator_headers = signed_up_with_role(client, db, "moderator")
    _, listing = published_agent(client, owner_headers)
    response = client.patch(
        f"/marketplace/{listing['id']}",
        headers=moderator_headers,
        json={"status": "featured", "summary": "moderated"},
    )
    assert_error(response, 403, "not_listing_owner")
    assert listing_of(client, listing["id"]).get_json()["status"] == "active"


# -- unpublish -----------------------------------------------------------------------------------


def test_unpublish_removes_the_listing_and_publishing_again_brings_it_back(client):
    _, headers = signed_up(client)
    _, installer_headers = signed_up(client)
    word = unique_name("gone").replace("_", "")
    agent, listing = published_agent(client, headers, agent={"display_name": f"{word} helper"})
    install(client, installer_headers, listing["id"])
    assert rate(client, installer_headers, listing["id"], 4).status_code == 201

    assert client.delete(f"/marketplace/{listing['id']}", headers=headers).status_code == 204
    assert client.get("/marketplace", query_string={"q": word}).get_json()["items"] == []
    assert_error(listing_of(client, listing["id"], installer_headers), 404)
    assert_error(
        client.post(f"/marketplace/{listing['id']}/install", headers=installer_headers), 404
    )
    own = listing_of(client, listing["id"], headers).get_json()
    assert own["unpublished_at"] is not None
    # idempotent for the owner
    assert client.delete(f"/marketplace/{listing['id']}", headers=headers).status_code == 204
    assert_error(client.post(f"/marketplace/{listing['id']}/install", headers=headers), 409)

    again = publish(client, headers, agent["id"], category="revived")
    assert again["id"] == listing["id"]
    assert again["unpublished_at"] is None
    assert (again["category"], again["rating_count"], again["install_count"]) == ("revived", 1, 1)
    assert [
        i["id"] for i in client.get("/marketplace", query_string={"q": word}).get_json()["items"]
    ] == [listing["id"]]


def test_only_the_owner_or_an_admin_unpublishes(client, db):
    _, owner_headers = signed_up(client)
    editor, editor_headers = signed_up(client)
    _, stranger_headers = signed_up(client)
    _, moderator_headers = signed_up_with_role(client, db, "moderator")
    _, admin_headers = signed_up_with_role(client, db, "admin")
    agent, listing = published_agent(client, owner_headers)
    client.put(
        f"/agents/{agent['id']}/permissions/{editor['id']}",
        headers=owner_headers,
        json={"level": "edit"},
    )
    url = f"/marketplace/{listing['id']}"
    for headers in (stranger_headers, editor_headers, moderator_headers):
        assert_error(client.delete(url, headers=headers), 403, "owner_only")
    assert_error(client.delete(url), 401)
    assert client.delete(url, headers=admin_headers).status_code == 204
    assert_error(client.delete(url, headers=stranger_headers), 404)


# -- install -------------------------------------------------------------------------------------


def test_install_copies_the_snapshot_into_a_new_agent_of_the_caller(client, db):
    from core.models.agents import Agent

    _, owner_headers = signed_up(client)
    installer, installer_headers = signed_up(client)
    source = create_agent(
        client, owner_headers, display_name="Summariser", definition=definition(tools=tools("grep"))
    )
    row = db.get(Agent, uuid.UUID(source["id"]))
    row.definition = row.definition | {
        "tools": [{"name": "grep", "enabled": True, "config": {"api_token": "sekrit"}}]
    }
    db.flush()
    listing = publish(client, owner_headers, source["id"])

    copy = install(client, installer_headers, listing["id"])
    assert copy["id"] != source["id"]
    assert copy["owner_id"] == installer["id"]
    assert copy["scope"] == "private"
    assert (copy["name"], copy["display_name"]) == (source["name"], "Summariser")
    assert copy["definition"]["tools"] == [
        {"name": "grep", "enabled": True, "config": {}, "requires_approval": False}
    ]
    assert copy["metadata"]["installed_from"] == {
        "listing_id": listing["id"],
        "agent_version": "1.0.0",
    }
    assert client.get(f"/agents/{copy['id']}", headers=installer_headers).status_code == 200
    assert listing_of(client, listing["id"]).get_json()["install_count"] == 1


def test_installing_again_makes_another_copy_but_counts_the_user_once(client):
    _, owner_headers = signed_up(client)
    _, installer_headers = signed_up(client)
    _, other_headers = signed_up(client)
    _, listing = published_agent(client, owner_headers)
    first = install(client, installer_headers, listing["id"])
    second = install(client, installer_headers, listing["id"])
    third = install(client, installer_headers, listing["id"])
    assert second["name"] == f"{first['name']}-2"
    assert third["name"] == f"{first['name']}-3"
    assert listing_of(client, listing["id"]).get_json()["install_count"] == 1
    install(client, other_headers, listing["id"])
    assert listing_of(client, listing["id"]).get_json()["install_count"] == 2


def test_install_needs_a_token(client):
    _, owner_headers = signed_up(client)
    _, listing = published_agent(client, owner_headers)
    assert_error(client.post(f"/marketplace/{listing['id']}/install"), 401)


# -- ratings -------------------------------------------------------------------------------------


def test_only_installers_rate_and_never_their_own_listing(client):
    _, owner_headers = signed_up(client)
    _, stranger_headers = signed_up(client)
    _, listing = published_agent(client, owner_headers)
    assert_error(rate(client, stranger_headers, listing["id"], 5), 403, "not_installed")
    install(client, owner_headers, listing["id"])
    assert_error(rate(client, owner_headers, listing["id"], 5), 403, "own_listing")
    assert_error(rate(client, {}, listing["id"], 5), 401)


def test_a_rating_is_one_per_user_and_the_average_follows(client):
    _, owner_headers = signed_up(client)
    alice, alice_headers = signed_up(client)
    _, bob_headers = signed_up(client)
    _, listing = published_agent(client, owner_headers)
    install(client, alice_headers, listing["id"])
    install(client, bob_headers, listing["id"])

    created = rate(client, alice_headers, listing["id"], 5, review="Great")
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["score"], body["review"], body["username"]) == (5, "Great", alice["username"])
    assert rate(client, bob_headers, listing["id"], 2).status_code == 201
    assert listing_of(client, listing["id"]).get_json()["rating_average"] == 3.5

    updated = rate(client, alice_headers, listing["id"], 3, review="Fine after all")
    assert updated.status_code == 200
    assert updated.get_json()["id"] == body["id"]
    after = listing_of(client, listing["id"]).get_json()
    assert (after["rating_count"], after["rating_average"]) == (2, 2.5)

    ratings = client.get(f"/marketplace/{listing['id']}/ratings").get_json()
    assert [(r["username"], r["score"], r["review"]) for r in ratings["items"]] == [
        (alice["username"], 3, "Fine after all"),
        (ratings["items"][1]["username"], 2, None),
    ]
    page = client.get(f"/marketplace/{listing['id']}/ratings", query_string={"limit": 1})
    nxt = client.get(
        f"/marketplace/{listing['id']}/ratings",
        query_string={"limit": 1, "cursor": page.get_json()["next_cursor"]},
    )
    assert [r["id"] for r in page.get_json()["items"] + nxt.get_json()["items"]] == [
        r["id"] for r in ratings["items"]
    ]
    assert nxt.get_json()["next_cursor"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"score": 0},
        {"score": 6},
        {"score": 4.5},
        {"score": "5"},
        {"score": True},
        {"score": None},
        {},
        {"score": 4, "review": "x" * 2001},
        {"score": 4, "stars": 4},
    ],
)
def test_a_bad_rating_is_422(client, body):
    _, owner_headers = signed_up(client)
    _, headers = signed_up(client)
    _, listing = published_agent(client, owner_headers)
    install(client, headers, listing["id"])
    response = client.post(f"/marketplace/{listing['id']}/ratings", headers=headers, json=body)
    assert_error(response, 422, "validation_error")


# -- workflows -----------------------------------------------------------------------------------


def workflow(*steps: str) -> dict[str, Any]:
    return definition(workflow={"type": "sequential", "steps": list(steps)})


def test_a_workflow_with_a_private_unlisted_step_cannot_be_published(client):
    _, headers = signed_up(client)
    step = create_agent(client, headers)
    flow = create_agent(client, headers, definition=workflow(step["id"]))
    response = client.post(
        "/marketplace", headers=headers, json={"agent_id": flow["id"], "category": "flows"}
    )
    error = assert_error(response, 409, "workflow_step_not_shareable")
    assert error["details"][0]["path"] == "definition.workflow.steps[0]"


def test_installing_a_workflow_installs_its_listed_steps_and_keeps_public_ones(client):
    _, owner_headers = signed_up(client)
    installer, installer_headers = signed_up(client)
    public_step = create_agent(client, owner_headers, scope="public")
    _, step_listing = published_agent(client, owner_headers)
    listed_step_id = step_listing["agent_id"]
    flow = create_agent(
        client,
        owner_headers,
        definition=workflow(public_step["id"], listed_step_id, listed_step_id),
    )
    flow_listing = publish(client, owner_headers, flow["id"])

    copy = install(client, installer_headers, flow_listing["id"])
    steps = copy["definition"]["workflow"]["steps"]
    assert steps[0] == public_step["id"]  # runnable by everyone: kept
    assert steps[1] == steps[2] != listed_step_id  # installed once, used twice
    step_copy = client.get(f"/agents/{steps[1]}", headers=installer_headers).get_json()
    assert step_copy["owner_id"] == installer["id"]
    assert step_copy["metadata"]["installed_from"]["listing_id"] == step_listing["id"]
    assert listing_of(client, step_listing["id"]).get_json()["install_count"] == 1
    assert listing_of(client, flow_listing["id"]).get_json()["install_count"] == 1


def test_a_workflow_whose_step_left_the_marketplace_cannot_be_installed(client):
    _, owner_headers = signed_up(client)
    _, installer_headers = signed_up(client)
    _, step_listing = published_agent(client, owner_headers)
    flow = create_agent(client, owner_headers, definition=workflow(step_listing["agent_id"]))
    flow_listing = publish(client, owner_headers, flow["id"])
    client.delete(f"/marketplace/{step_listing['id']}", headers=owner_headers)

    response = client.post(f"/marketplace/{flow_listing['id']}/install", headers=installer_headers)
    assert_error(response, 409, "workflow_step_unavailable")
    # the owner can still run the step, so for them the workflow installs
    assert install(client, owner_headers, flow_listing["id"])["agent_type"] == "workflow"


def test_a_listing_names_its_publisher_and_tells_the_caller_whether_they_installed_it(client):
    owner, headers = signed_up(client)
    _, other = signed_up(client)
    listing = publish(client, headers, create_agent(client, headers)["id"])
    found = client.get("/marketplace", query_string={"q": listing["name"]}).get_json()["items"]
    assert [item["publisher"] for item in found if item["id"] == listing["id"]] == [
        owner["username"]
    ]
    url = f"/marketplace/{listing['id']}"
    assert client.get(url).get_json()["installed"] is False  # anonymous
    assert client.get(url, headers=other).get_json()["installed"] is False
    install(client, other, listing["id"])
    assert client.get(url, headers=other).get_json()["installed"] is True
    assert client.get(url, headers=headers).get_json()["installed"] is False
