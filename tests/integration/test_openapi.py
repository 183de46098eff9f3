"""The OpenAPI document is generated from the routes: every route is documented and every
documented path is routed."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from core.http.openapi import openapi_path
from functions import GROUPS

NOT_API = {
    "/openapi.json",
    "/docs",
    "/docs/static/<path:filename>",
    "/static/<path:filename>",
    # the web console's files (its group is left out of the document: HTML, not the API)
    "/console",
    "/console/<path:asset>",
}


def _routed(app) -> set[tuple[str, str]]:
    pairs = set()
    for rule in app.url_map.iter_rules():
        if rule.rule in NOT_API:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            pairs.add((openapi_path(rule.rule), method.lower()))
    return pairs


def _documented(document) -> set[tuple[str, str]]:
    return {(path, method) for path, ops in document["paths"].items() for method in ops}


def test_every_route_is_documented_and_every_documented_path_is_routed(app, client):
    document = client.get("/openapi.json").get_json()
    assert _routed(app) == _documented(document)


def test_document_is_openapi_31_with_bearer_security_and_resolvable_refs(client):
    document = client.get("/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    schemas = document["components"]["schemas"]
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(document)))
    assert refs
    assert refs <= set(schemas)


def test_public_routes_need_no_token_and_others_do(client):
    document = client.get("/openapi.json").get_json()
    security = {
        (path, method): op.get("security")
        for path, ops in document["paths"].items()
        for method, op in ops.items()
    }
    assert security[("/auth/login", "post")] == []
    assert security[("/health", "get")] == []
    assert security[("/users/me", "get")] == [{"bearer": []}]


def test_register_body_schema_comes_from_the_pydantic_model(client):
    document = client.get("/openapi.json").get_json()
    register = document["components"]["schemas"]["RegisterRequest"]
    assert register["additionalProperties"] is False
    assert set(register["required"]) == {"username", "email", "password"}
    assert register["properties"]["password"]["minLength"] == 8


def routes_of(group: str) -> Any:
    import importlib

    return importlib.import_module(f"functions.{group}.main").routes


@pytest.mark.parametrize("group", [g for g in GROUPS if routes_of(g).documented])
def test_each_function_serves_its_own_group(group):
    import functions_framework

    from tests.integration.test_function_entry import function_app

    client = function_app(group).test_client()
    document = client.get("/openapi.json").get_json()
    prefixes = {"/" + path.split("/")[1] for path in document["paths"]}
    assert prefixes == {routes_of(group).path}
    assert functions_framework  # the target was loaded through functions-framework
