"""How a JSON body is read: only as JSON (415 otherwise), strictly typed (a boolean is true or
false, an integer is not "4", though 4.0 is the integer 4 as JSON Schema has it), no NaN or
Infinity, at most MAX_JSON_DEPTH levels deep (422 saying so)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.http.parsing import MAX_JSON_DEPTH
from core.json_schema import json_nesting
from tests.support.agents import create_agent, definition
from tests.support.api import assert_error, signed_up


@pytest.fixture
def user(client: Any) -> dict[str, str]:
    return signed_up(client)[1]


@pytest.mark.parametrize("value", [0, 1, "no", "off", "true", 0.0, "NoneType"])
def test_a_boolean_is_a_json_boolean(client: Any, user: dict[str, str], value: Any) -> None:
    agent = create_agent(client, user)
    response = client.patch(f"/agents/{agent['id']}", headers=user, json={"is_active": value})
    assert_error(response, 422)
    assert client.get(f"/agents/{agent['id']}", headers=user).get_json()["is_active"] is True


def test_false_is_false(client: Any, user: dict[str, str]) -> None:
    agent = create_agent(client, user)
    response = client.patch(f"/agents/{agent['id']}", headers=user, json={"is_active": False})
    assert response.get_json()["is_active"] is False


@pytest.mark.parametrize(("value", "stored"), [(20, 20), (20.0, 20)])
def test_a_whole_number_is_an_integer(
    client: Any, user: dict[str, str], value: Any, stored: int
) -> None:
    agent = create_agent(client, user, definition=definition(limits={"max_requests": value}))
    assert agent["definition"]["limits"]["max_requests"] == stored


@pytest.mark.parametrize("value", ["20", 20.5, True])
def test_anything_else_is_not(client: Any, user: dict[str, str], value: Any) -> None:
    body = {
        "name": "x",
        "display_name": "x",
        "definition": definition(limits={"max_requests": value}),
    }
    assert_error(client.post("/agents", headers=user, json=body), 422)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(client: Any, user: dict[str, str], constant: str) -> None:
    raw = '{"name": "x", "display_name": "x", "definition": {"limits": {"timeout_s": %s}}}'
    response = client.post(
        "/agents", headers=user, data=raw % constant, content_type="application/json"
    )
    assert_error(response, 400, "malformed_json")


def test_nesting_deeper_than_the_limit_is_422_saying_so(client: Any, user: dict[str, str]) -> None:
    def nested(levels: int) -> Any:
        value: Any = {}
        for _ in range(levels):
            value = {"a": value}
        return value

    # an output schema nests as deep as its output (free-form metadata stops far sooner)
    schema: dict[str, Any] = {"type": "object"}
    ok = {"name": "deep-ok", "display_name": "x", "definition": definition(output_schema=schema)}
    while json_nesting(ok) + 2 <= MAX_JSON_DEPTH:
        schema = {"type": "object", "properties": {"a": schema}}
        ok["definition"] = definition(output_schema=schema)
    assert json_nesting(ok) >= MAX_JSON_DEPTH - 1
    assert client.post("/agents", headers=user, json=ok).status_code == 201
    too_deep = {**ok, "name": "deep-no", "metadata": nested(MAX_JSON_DEPTH)}
    error = assert_error(
        client.post("/agents", headers=user, json=too_deep), 422, "validation_error"
    )
    assert error["details"][0]["type"] == "too_deep"
    # far deeper than Python's own parser goes: still the same answer, never a 500
    body = '{"metadata": ' + "[" * 100_000 + "]" * 100_000 + "}"
    error = assert_error(
        client.post("/agents", headers=user, data=body, content_type="application/json"), 422
    )
    assert error["details"][0]["type"] == "too_deep"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_a_json_body_needs_a_json_content_type(
    client: Any, user: dict[str, str], content_type: str
) -> None:
    body = json.dumps({"name": "x", "display_name": "x", "definition": definition()})
    response = client.post("/agents", headers=user, data=body, content_type=content_type)
    assert_error(response, 415, "json_required")


def test_a_json_suffix_type_is_json(client: Any, user: dict[str, str]) -> None:
    body = json.dumps({"name": "vnd", "display_name": "x", "definition": definition()})
    response = client.post(
        "/agents", headers=user, data=body, content_type="application/vnd.api+json"
    )
    assert response.status_code == 201, response.get_json()


def test_an_optional_field_is_left_out_not_null(client: Any, user: dict[str, str]) -> None:
    """The document says these may be absent but never null; so does the server."""
    error = assert_error(client.patch("/users/me", headers=user, json={"password": None}), 422)
    assert error["details"][0]["type"] == "not_null"
    agent = create_agent(client, user)
    response = client.post(
        f"/agents/{agent['id']}/execute", headers=user, json={"input": "x", "webhook_url": None}
    )
    assert_error(response, 422)
    ok = client.post(f"/agents/{agent['id']}/execute", headers=user, json={"input": "x"})
    assert ok.status_code == 200, ok.get_json()
