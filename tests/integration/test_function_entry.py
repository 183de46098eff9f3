"""Each functions/<group>/main.py works as a functions-framework target, serving its group
both at /<group>/... (behind the load balancer) and at /... (its own function URL)."""

from __future__ import annotations

import json
from pathlib import Path

import functions_framework
import pytest

from tests.conftest import unique_name
from tests.support.api import PASSWORD, assert_error, bearer

ROOT = Path(__file__).resolve().parents[2]


def function_app(group: str):
    return functions_framework.create_app(
        target="entry", source=str(ROOT / "functions" / group / "main.py")
    )


@pytest.fixture
def auth_client(db):
    return function_app("auth").test_client()


@pytest.fixture
def users_client(db):
    return function_app("users").test_client()


@pytest.mark.parametrize("prefix", ["/auth", ""])
def test_auth_function_serves_prefixed_and_bare_paths(auth_client, prefix):
    name = unique_name()
    response = auth_client.post(
        f"{prefix}/register",
        json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
    )
    assert response.status_code == 201
    response = auth_client.post(f"{prefix}/login", json={"username": name, "password": PASSWORD})
    assert response.status_code == 200
    assert response.get_json()["token_type"] == "bearer"


def test_users_function_authenticates_with_a_token_from_the_auth_function(
    auth_client, users_client
):
    name = unique_name()
    auth_client.post(
        "/register", json={"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    )
    token = auth_client.post("/login", json={"username": name, "password": PASSWORD}).get_json()
    response = users_client.get("/me", headers=bearer(token["access_token"]))
    assert response.status_code == 200
    assert response.get_json()["username"] == name


def test_function_entry_refuses_an_oversized_body_before_reading_it(auth_client):
    response = auth_client.post(
        "/register", data=b"x" * (3 * 1024 * 1024), content_type="application/json"
    )
    assert_error(response, 413, "payload_too_large")


def test_function_entry_maps_malformed_json_and_unknown_routes(auth_client):
    assert_error(
        auth_client.post("/login", data=b"{nope", content_type="application/json"),
        400,
        "malformed_json",
    )
    assert_error(auth_client.get("/no/such/route"), 404, "not_found")


def test_health_function_answers_at_its_root(db):
    client = function_app("health").test_client()
    assert client.get("/").get_json()["status"] == "ok"
    assert client.get("/health").get_json()["status"] == "ok"
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.get_json()["status"] == "ready"


def test_a_serving_process_freezes_what_it_loaded_and_collects_young_objects_less_often(
    tmp_path,
):
    import subprocess
    import sys

    source = str(ROOT / "functions" / "health" / "main.py")
    script = f"""
import gc, json, functions_framework
app = functions_framework.create_app(target="entry", source={source!r})
before = (gc.get_threshold()[0], gc.get_freeze_count())
app.test_client().get("/openapi.json")
print(json.dumps([before, (gc.get_threshold()[0], gc.get_freeze_count())]))
"""
    env = {"PATH": "/usr/bin:/bin", "SECRET_KEY": "s" * 48, "DATA_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    (threshold_before, frozen_before), (threshold_after, frozen_after) = json.loads(out.stdout)
    assert (threshold_before, frozen_before) == (700, 0)
    assert threshold_after == 7000
    assert frozen_after > 10_000
