"""An execute outside a session is started by one statement that checks the caller's account
and execute access as it inserts (core.runs.execution_rows.insert_checked_execution); when
it writes nothing, the full path answers. Its SQL rule must be exactly `access_of`'s, the
account checks those of authentication, and a changed agent must run its new definition."""

from __future__ import annotations

import itertools
import uuid

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy import Table, select

from core.access.agents import Access, access_of, may_execute_clause
from core.models.agents import Agent, AgentPermission, AgentScope, PermissionLevel
from core.models.users import Role, User
from core.runs import known_definitions
from tests.support.agents import create_agent, definition, execute
from tests.support.api import assert_error, signed_up
from tests.support.backends import answering
from tests.support.rows import new_run, user_row


def test_the_sql_rule_is_access_of_at_execute_or_above(db):
    owner = user_row(db)
    users = {role: user_row(db, role) for role in Role}
    agents_table: Table = Agent.__table__  # type: ignore[assignment]
    users_table: Table = User.__table__  # type: ignore[assignment]
    checked = 0
    for scope, grant, role, owns in itertools.product(
        AgentScope, [None, *PermissionLevel], Role, [False, True]
    ):
        caller = owner if owns else users[role]
        if owns and role != owner.role:
            continue
        agent = Agent(
            name=f"a{uuid.uuid4().hex[:12]}",
            display_name="A",
            owner_id=owner.id,
            scope=scope,
            definition={"model": {"provider": "test", "name": "test"}},
        )
        db.add(agent)
        db.flush()
        if grant is not None and not owns:
            db.add(AgentPermission(agent_id=agent.id, user_id=caller.id, level=grant))
            db.flush()
        in_sql = db.scalar(
            select(may_execute_clause(users_table, agents_table))
            .select_from(users_table.join(agents_table, agents_table.c.id == agent.id))
            .where(users_table.c.id == caller.id)
        )
        assert in_sql == (access_of(db, caller, agent) >= Access.execute), (
            scope,
            grant,
            role,
            owns,
        )
        checked += 1
    assert checked == len(AgentScope) * 4 * (len(Role) + 1)


def test_a_deactivated_account_is_a_401_even_with_a_bad_body(client, db):
    user, headers = signed_up(client)
    agent = create_agent(client, headers)
    db.get(User, uuid.UUID(user["id"])).is_active = False
    db.flush()
    assert_error(execute(client, headers, agent["id"]), 401, "invalid_token")
    response = client.post(f"/agents/{agent['id']}/execute", headers=headers, json={"nope": 1})
    assert_error(response, 401, "invalid_token")


def test_a_bad_body_of_an_active_account_is_still_a_422(client):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    response = client.post(f"/agents/{agent['id']}/execute", headers=headers, json={"nope": 1})
    assert_error(response, 422, "validation_error")


def test_a_bad_webhook_on_an_agent_the_caller_cannot_see_is_a_404(client):
    _, owner = signed_up(client)
    _, stranger = signed_up(client)
    agent = create_agent(client, owner)
    response = execute(client, stranger, agent["id"], webhook_url="http://example.com/hook")
    assert_error(response, 404, "agent_not_found")


def _saw_prompt(prompts: list[str]) -> FunctionModel:
    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompts.append(str(info.instructions))
        return ModelResponse(parts=[TextPart("ok")])

    return FunctionModel(answer)


def test_a_changed_definition_runs_at_once(client):
    _, headers = signed_up(client)
    agent = create_agent(client, headers, definition=definition(system_prompt="first"))
    assert execute(client, headers, agent["id"]).get_json()["agent_version"] == "1.0.0"
    patched = client.patch(
        f"/agents/{agent['id']}",
        headers=headers,
        json={"definition": definition(system_prompt="second")},
    )
    assert patched.status_code == 200, patched.get_json()
    prompts: list[str] = []
    with answering(client, _saw_prompt(prompts)):
        ran = execute(client, headers, agent["id"]).get_json()
    assert ran["agent_version"] == patched.get_json()["version"] != "1.0.0"
    assert prompts == ["second"]
    assert known_definitions.latest(uuid.UUID(agent["id"]))[0] == ran["agent_version"]


@pytest.mark.parametrize("known", [False, True])
def test_the_definition_travels_only_for_a_version_new_here(client, db, known):
    from core.models.executions import WorkflowType
    from core.runs import execution_rows

    user, headers = signed_up(client)
    agent = create_agent(client, headers)
    execution = new_run(agent_id=agent["id"], user_id=user["id"], agent_version="")
    started = execution_rows.insert_checked_execution(
        db, execution, [], known_version="1.0.0" if known else "0.9.0"
    )
    assert started is not None
    assert (started.version, started.workflow_type) == ("1.0.0", WorkflowType.single)
    assert (started.definition is None) == known
