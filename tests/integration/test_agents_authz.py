"""Who may do what with an agent and its runs: a matrix of every agent and execution route against
every kind of caller, then the scopes (public, system) and the life of a permission.

Levels grow read < execute < edit < owner; the owner and admins hold all of them. A private agent
the caller cannot read is a 404 on every route (never a 403, which would reveal it); an agent the
caller can read but lacks the level for is a 403. A run is readable by whoever started it and by
admins only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import unique_name
from tests.support.api import assert_error, signed_up, signed_up_with_role

ACTORS = ("owner", "stranger", "read", "execute", "edit", "admin")
GRANTED = ("read", "execute", "edit")

DEFINITION = {"model": {"provider": "test", "name": "test"}, "system_prompt": "be brief"}


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # {agent}, {execution}, {bystander} and {newcomer} are filled in per test
    body: dict[str, Any] | None = None
    missing_code: str = "agent_not_found"


ROUTES: dict[str, Call] = {
    "get-agent": Call("GET", "/agents/{agent}"),
    "patch-agent": Call("PATCH", "/agents/{agent}", {"display_name": "Renamed"}),
    "patch-definition": Call(
        "PATCH", "/agents/{agent}", {"definition": DEFINITION | {"system_prompt": "be long"}}
    ),
    "patch-scope": Call("PATCH", "/agents/{agent}", {"scope": "public"}),
    "delete-agent": Call("DELETE", "/agents/{agent}"),
    "list-versions": Call("GET", "/agents/{agent}/versions"),
    "get-version": Call("GET", "/agents/{agent}/versions/1.0.0"),
    "rollback": Call("POST", "/agents/{agent}/rollback", {"version": "1.0.0"}),
    "list-permissions": Call("GET", "/agents/{agent}/permissions"),
    "grant-permission": Call("PUT", "/agents/{agent}/permissions/{newcomer}", {"level": "read"}),
    "share-by-username": Call(
        "POST", "/agents/{agent}/permissions", {"level": "read", "username": "{newcomer_name}"}
    ),
    "revoke-permission": Call("DELETE", "/agents/{agent}/permissions/{bystander}"),
    "execute": Call("POST", "/agents/{agent}/execute", {"input": "hi"}),
    "get-execution": Call("GET", "/executions/{execution}", missing_code="execution_not_found"),
    "execution-events": Call(
        "GET", "/executions/{execution}/events", missing_code="execution_not_found"
    ),
}

OWNER_ONLY = (403, "owner_only")

# fmt: off
#                      owner  stranger read  execute edit        admin
MATRIX: dict[str, tuple[Any, ...]] = {
    "get-agent":         (200,  404,     200,  200,    200,        200),
    "patch-agent":       (200,  404,     403,  403,    200,        200),
    "patch-definition":  (200,  404,     403,  403,    200,        200),
    "patch-scope":       (200,  404,     403,  403,    OWNER_ONLY, 200),
    "delete-agent":      (204,  404,     403,  403,    403,        204),
    "list-versions":     (200,  404,     200,  200,    200,        200),
    "get-version":       (200,  404,     200,  200,    200,        200),
    "rollback":          (200,  404,     403,  403,    200,        200),
    "list-permissions":  (200,  404,     403,  403,    200,        200),
    "grant-permission":  (200,  404,     403,  403,    403,        200),
    "share-by-username": (200,  404,     403,  403,    403,        200),
    "revoke-permission": (204,  404,     403,  403,    403,        204),
    "execute":           (200,  404,     403,  200,    200,        200),
    "get-execution":     (200,  404,     404,  404,    404,        200),
    "execution-events":  (200,  404,     404,  404,    404,        200),
}
# fmt: on

AGENT_ROUTES = [name for name, call in ROUTES.items() if "{agent}" in call.path]
EXECUTION_ROUTES = [name for name, call in ROUTES.items() if "{execution}" in call.path]


@dataclass
class World:
    """An owner's private agent shared at each level, the owner's finished run, and callers."""

    headers: dict[str, dict[str, str]]
    users: dict[str, dict[str, Any]]
    agent: dict[str, Any]
    execution: dict[str, Any]

    def state(self, client: Any) -> tuple[Any, ...]:
        """What the owner sees of the agent, its sharing and its versions."""
        path, owner = f"/agents/{self.agent['id']}", self.headers["owner"]
        return tuple(
            client.get(url, headers=owner).get_json()
            for url in (path, f"{path}/permissions", f"{path}/versions")
        )

    def call(self, client: Any, route: str, actor: str, **ids: str) -> Any:
        call = ROUTES[route]
        values = {
            "agent": self.agent["id"],
            "execution": self.execution["id"],
            "bystander": self.users["bystander"]["id"],
            "newcomer": self.users["newcomer"]["id"],
            "newcomer_name": self.users["newcomer"]["username"],
        } | ids
        body = {
            k: v.format(**values) if isinstance(v, str) else v for k, v in (call.body or {}).items()
        }
        return send(
            client, self.headers[actor], call.method, call.path.format(**values), call.body and body
        )


def send(
    client: Any, headers: dict[str, str], method: str, path: str, body: Any | None = None
) -> Any:
    return client.open(path, method=method, headers=headers, json=body)


def create_agent(client: Any, headers: dict[str, str], **fields: Any) -> Any:
    body = {"name": unique_name("agent"), "display_name": "Agent", "definition": DEFINITION}
    return client.post("/agents", headers=headers, json=body | fields)


def created(client: Any, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = create_agent(client, headers, **fields)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def grant(client: Any, headers: dict[str, str], agent_id: str, user_id: str, level: str) -> Any:
    return client.put(
        f"/agents/{agent_id}/permissions/{user_id}", headers=headers, json={"level": level}
    )


def execute(client: Any, headers: dict[str, str], agent_id: str) -> Any:
    return client.post(f"/agents/{agent_id}/execute", headers=headers, json={"input": "hi"})


def expected(cell: Any) -> tuple[int, str | None]:
    return cell if isinstance(cell, tuple) else (cell, None)


@pytest.fixture
def world(client, db) -> World:
    users: dict[str, dict[str, Any]] = {}
    headers: dict[str, dict[str, str]] = {}
    for actor in ("owner", "stranger", *GRANTED, "bystander", "newcomer"):
        users[actor], headers[actor] = signed_up(client)
    users["admin"], headers["admin"] = signed_up_with_role(client, db, "admin")

    agent = created(client, headers["owner"])
    for level in (*GRANTED, "bystander"):
        granted = "read" if level == "bystander" else level
        response = grant(client, headers["owner"], agent["id"], users[level]["id"], granted)
        assert response.status_code == 200, response.get_json()

    response = execute(client, headers["owner"], agent["id"])
    assert response.status_code == 200, response.get_json()
    execution = response.get_json()
    assert execution["status"] == "succeeded", execution["error"]
    return World(headers=headers, users=users, agent=agent, execution=execution)


# -- the matrix ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "actor", "cell"),
    [
        pytest.param(route, actor, cell, id=f"{route}[{actor}]")
        for route, cells in MATRIX.items()
        for actor, cell in zip(ACTORS, cells, strict=True)
    ],
)
def test_access_matrix(client, world, route, actor, cell):
    status, code = expected(cell)
    before = world.state(client)
    response = world.call(client, route, actor)

    if status >= 400:
        default = ROUTES[route].missing_code if status == 404 else "insufficient_access"
        assert_error(response, status, code or default)
        assert world.state(client) == before, "a refused call changed something"
    else:
        assert response.status_code == status, response.get_json()
    if route == "execute" and status == 200:
        assert response.get_json()["status"] == "succeeded"


def test_the_matrix_covers_every_route_and_actor():
    assert set(MATRIX) == set(ROUTES)
    assert all(len(cells) == len(ACTORS) for cells in MATRIX.values())


@pytest.mark.parametrize("actor", ACTORS)
def test_the_agent_is_listed_for_its_owner_and_those_it_is_shared_with(client, world, actor):
    """Admins can open any agent by id, but their list holds only what is theirs, shared with
    them, public or system (it is not flooded with everyone's private agents)."""
    page = client.get(
        "/agents", headers=world.headers[actor], query_string={"q": world.agent["name"]}
    ).get_json()
    listed = {a["id"] for a in page["items"]} == {world.agent["id"]}
    assert listed is (actor not in ("stranger", "admin"))


@pytest.mark.parametrize("route", AGENT_ROUTES)
def test_a_stranger_sees_a_private_agent_exactly_as_a_missing_one(client, world, route):
    hidden = world.call(client, route, "stranger")
    missing = world.call(client, route, "stranger", agent=str(uuid.uuid4()))
    assert_error(hidden, 404, "agent_not_found")
    assert hidden.get_json() == missing.get_json()


@pytest.mark.parametrize("route", AGENT_ROUTES)
@pytest.mark.parametrize("actor", ["owner", "admin"])
def test_a_deleted_agent_is_404_on_every_route(client, world, route, actor):
    response = send(client, world.headers["owner"], "DELETE", f"/agents/{world.agent['id']}")
    assert response.status_code == 204
    assert_error(world.call(client, route, actor), 404, "agent_not_found")


@pytest.mark.parametrize("route", EXECUTION_ROUTES)
@pytest.mark.parametrize(("actor", "status"), [("owner", 200), ("admin", 200), ("edit", 404)])
def test_a_deleted_agents_run_stays_readable_to_who_could_read_it(
    client, world, route, actor, status
):
    send(client, world.headers["owner"], "DELETE", f"/agents/{world.agent['id']}")
    assert world.call(client, route, actor).status_code == status


@pytest.mark.parametrize("actor", ["execute", "edit", "admin"])
def test_each_caller_reads_their_own_run_of_a_shared_agent(client, world, actor):
    run = execute(client, world.headers[actor], world.agent["id"]).get_json()
    assert world.call(client, "get-execution", actor, execution=run["id"]).status_code == 200
    assert world.call(client, "execution-events", actor, execution=run["id"]).status_code == 200
    owner_view = world.call(client, "get-execution", "owner", execution=run["id"])
    assert_error(owner_view, 404, "execution_not_found")


def test_the_executions_list_holds_only_the_callers_own_runs(client, world):
    for actor in ("stranger", "read", "edit", "admin"):
        page = client.get(
            "/executions",
            headers=world.headers[actor],
            query_string={"agent_id": world.agent["id"]},
        ).get_json()
        assert page["items"] == [], actor


# -- public and system scopes --------------------------------------------------------------------


def test_anyone_reads_and_runs_a_public_agent_but_only_its_owner_changes_it(client):
    _, owner = signed_up(client)
    _, stranger = signed_up(client)
    agent = created(client, owner, scope="public")
    path = f"/agents/{agent['id']}"

    assert client.get(path, headers=stranger).status_code == 200
    assert client.get(f"{path}/versions", headers=stranger).status_code == 200
    listed = client.get("/agents", headers=stranger, query_string={"q": agent["name"]})
    assert [a["id"] for a in listed.get_json()["items"]] == [agent["id"]]
    run = execute(client, stranger, agent["id"])
    assert run.status_code == 200
    assert run.get_json()["status"] == "succeeded"

    assert_error(client.patch(path, headers=stranger, json={"display_name": "x"}), 403)
    rollback = client.post(f"{path}/rollback", headers=stranger, json={"version": "1.0.0"})
    assert_error(rollback, 403, "insufficient_access")
    assert_error(client.get(f"{path}/permissions", headers=stranger), 403)
    assert_error(client.delete(path, headers=stranger), 403)


def test_a_public_agent_made_private_disappears_for_strangers(client):
    _, owner = signed_up(client)
    _, stranger = signed_up(client)
    agent = created(client, owner, scope="public")
    path = f"/agents/{agent['id']}"
    assert client.patch(path, headers=owner, json={"scope": "private"}).status_code == 200
    assert_error(client.get(path, headers=stranger), 404, "agent_not_found")
    assert_error(execute(client, stranger, agent["id"]), 404, "agent_not_found")


def test_a_read_grant_on_a_public_agent_does_not_take_execute_away(client):
    _, owner = signed_up(client)
    reader, reader_headers = signed_up(client)
    agent = created(client, owner, scope="public")
    assert grant(client, owner, agent["id"], reader["id"], "read").status_code == 200
    assert execute(client, reader_headers, agent["id"]).status_code == 200


@pytest.mark.parametrize("role", ["user", "moderator"])
def test_only_admins_create_system_agents(client, db, role):
    _, headers = signed_up_with_role(client, db, role)
    assert_error(create_agent(client, headers, scope="system"), 403, "admin_only")


def test_everyone_reads_and_runs_a_system_agent_but_cannot_change_it(client, db):
    _, admin = signed_up_with_role(client, db, "admin")
    _, user = signed_up(client)
    agent = created(client, admin, scope="system")
    assert agent["scope"] == "system"
    path = f"/agents/{agent['id']}"

    assert client.get(path, headers=user).status_code == 200
    listed = client.get("/agents", headers=user, query_string={"scope": "system"})
    assert agent["id"] in {a["id"] for a in listed.get_json()["items"]}
    assert execute(client, user, agent["id"]).get_json()["status"] == "succeeded"
    assert_error(client.patch(path, headers=user, json={"display_name": "x"}), 403)
    assert_error(client.delete(path, headers=user), 403)


def test_only_admins_move_an_agent_into_or_out_of_system_scope(client, db):
    _, admin = signed_up_with_role(client, db, "admin")
    _, owner = signed_up(client)
    agent = created(client, owner)
    path = f"/agents/{agent['id']}"

    assert_error(client.patch(path, headers=owner, json={"scope": "system"}), 403, "admin_only")
    moved = client.patch(path, headers=admin, json={"scope": "system"})
    assert moved.status_code == 200
    assert moved.get_json()["scope"] == "system"

    assert_error(client.patch(path, headers=owner, json={"scope": "public"}), 403, "admin_only")
    assert client.patch(path, headers=owner, json={"display_name": "still mine"}).status_code == 200
    back = client.patch(path, headers=admin, json={"scope": "private"})
    assert back.get_json()["scope"] == "private"


def test_an_editor_cannot_change_the_scope_even_to_public(client):
    _, owner = signed_up(client)
    editor, editor_headers = signed_up(client)
    agent = created(client, owner)
    grant(client, owner, agent["id"], editor["id"], "edit")
    response = client.patch(
        f"/agents/{agent['id']}", headers=editor_headers, json={"scope": "public"}
    )
    assert_error(response, 403, "owner_only")
    assert client.get(f"/agents/{agent['id']}", headers=owner).get_json()["scope"] == "private"


# -- permissions ---------------------------------------------------------------------------------


def test_a_permission_grants_its_level_until_changed_or_revoked(client):
    _, owner = signed_up(client)
    friend, friend_headers = signed_up(client)
    agent = created(client, owner)
    path = f"/agents/{agent['id']}"

    assert_error(client.get(path, headers=friend_headers), 404)
    granted = grant(client, owner, agent["id"], friend["id"], "read")
    assert granted.status_code == 200
    assert granted.get_json()["level"] == "read"
    assert client.get(path, headers=friend_headers).status_code == 200
    assert_error(execute(client, friend_headers, agent["id"]), 403, "insufficient_access")

    assert grant(client, owner, agent["id"], friend["id"], "execute").get_json()["level"] == (
        "execute"
    )
    assert execute(client, friend_headers, agent["id"]).status_code == 200
    rows = client.get(f"{path}/permissions", headers=owner).get_json()
    assert [(r["user_id"], r["level"]) for r in rows] == [(friend["id"], "execute")]

    revoked = client.delete(f"{path}/permissions/{friend['id']}", headers=owner)
    assert revoked.status_code == 204
    assert_error(client.get(path, headers=friend_headers), 404, "agent_not_found")
    assert client.get(f"{path}/permissions", headers=owner).get_json() == []


def test_an_agent_is_shared_by_username_and_listed_with_usernames(client):
    _, owner = signed_up(client)
    friend, friend_headers = signed_up(client)
    agent = created(client, owner)
    path = f"/agents/{agent['id']}/permissions"
    shared = client.post(
        path, headers=owner, json={"username": friend["username"].upper(), "level": "execute"}
    )
    assert shared.status_code == 200, shared.get_json()
    assert (shared.get_json()["user_id"], shared.get_json()["username"]) == (
        friend["id"],
        friend["username"],
    )
    assert execute(client, friend_headers, agent["id"]).status_code == 200
    rows = client.get(path, headers=owner).get_json()
    assert [(r["username"], r["level"]) for r in rows] == [(friend["username"], "execute")]
    unknown = client.post(path, headers=owner, json={"username": "nobody_here", "level": "read"})
    assert_error(unknown, 404, "user_not_found")


def test_an_editor_sees_who_the_agent_is_shared_with(client, world):
    rows = client.get(
        f"/agents/{world.agent['id']}/permissions", headers=world.headers["edit"]
    ).get_json()
    levels = {row["user_id"]: row["level"] for row in rows}
    assert levels == {
        world.users["read"]["id"]: "read",
        world.users["execute"]["id"]: "execute",
        world.users["edit"]["id"]: "edit",
        world.users["bystander"]["id"]: "read",
    }
    assert all(row["granted_by"] == world.users["owner"]["id"] for row in rows)


def test_granting_to_the_owner_is_a_conflict(client, world):
    response = grant(
        client, world.headers["owner"], world.agent["id"], world.users["owner"]["id"], "read"
    )
    assert_error(response, 409, "owner_permission")


def test_granting_to_an_unknown_user_is_404(client, world):
    response = grant(client, world.headers["owner"], world.agent["id"], str(uuid.uuid4()), "edit")
    assert_error(response, 404, "user_not_found")


def test_revoking_a_permission_nobody_holds_is_404(client, world):
    path = f"/agents/{world.agent['id']}/permissions/{world.users['newcomer']['id']}"
    assert_error(client.delete(path, headers=world.headers["owner"]), 404, "permission_not_found")


@pytest.mark.parametrize("level", ["owner", "admin", "", None])
def test_a_grant_names_one_of_the_three_levels(client, world, level):
    response = grant(
        client, world.headers["owner"], world.agent["id"], world.users["newcomer"]["id"], level
    )
    body = assert_error(response, 422, "validation_error")
    assert [d["path"] for d in body["details"]] == ["level"]


# -- idempotency keys do not bypass access -------------------------------------------------------


def test_a_reused_idempotency_key_on_a_hidden_agent_is_still_404(client, world):
    stranger = world.headers["stranger"]
    own = created(client, stranger)
    first = client.post(
        f"/agents/{own['id']}/execute",
        headers=stranger,
        json={"input": "hi", "idempotency_key": "k"},
    )
    assert first.status_code == 200
    for agent_id in (world.agent["id"], str(uuid.uuid4())):
        response = client.post(
            f"/agents/{agent_id}/execute",
            headers=stranger,
            json={"input": "hi", "idempotency_key": "k"},
        )
        assert_error(response, 404, "agent_not_found")


def test_a_reused_idempotency_key_after_losing_access_runs_nothing_new(client, world):
    body = {"input": "hi", "idempotency_key": "retry-me"}
    path = f"/agents/{world.agent['id']}/execute"
    first = client.post(path, headers=world.headers["execute"], json=body).get_json()
    revoke = f"/agents/{world.agent['id']}/permissions/{world.users['execute']['id']}"
    assert client.delete(revoke, headers=world.headers["owner"]).status_code == 204

    again = client.post(path, headers=world.headers["execute"], json=body)
    assert again.status_code in (200, 404)
    if again.status_code == 200:
        assert again.get_json()["id"] == first["id"]
    runs = client.get("/executions", headers=world.headers["execute"]).get_json()["items"]
    assert [run["id"] for run in runs] == [first["id"]]
