"""Each functions/<group>/main.py works as a functions-framework target (in its ASGI mode,
behind the same front as `make dev`), serving its group both at /<group>/... (behind the load
balancer) and at /... (its own function URL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import functions_framework
import pytest

from tests.conftest import unique_name
from tests.support.api import PASSWORD, assert_error, bearer

ROOT = Path(__file__).resolve().parents[2]


class Answer:
    """An httpx response read the way the Flask test client's are (what the helpers expect)."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self.status_code = response.status_code
        self.headers = response.headers
        self.mimetype = response.headers.get("content-type", "").split(";")[0]

    def get_json(self) -> Any:
        return self.response.json()

    def get_data(self, as_text: bool = False) -> Any:
        return self.response.text if as_text else self.response.content


class FunctionClient:
    """A function's target as functions-framework serves it (its ASGI app), driven over
    Starlette's test client with the Flask test client's calls."""

    def __init__(self, app: Any) -> None:
        from starlette.testclient import TestClient

        self.client = TestClient(app)

    def open(self, path: str, method: str = "GET", **kwargs: Any) -> Answer:
        content_type = kwargs.pop("content_type", None)
        headers = dict(kwargs.pop("headers", None) or {})
        data = kwargs.pop("data", None)
        if content_type == "multipart/form-data":
            # Flask's (file, name) is httpx's (name, file)
            files = {k: (v[1], v[0]) for k, v in data.items() if isinstance(v, tuple)}
            fields = {k: v for k, v in data.items() if not isinstance(v, tuple)}
            kwargs |= {"files": files, "data": fields}
        elif data is not None:
            kwargs["content"] = data
            if content_type:
                headers["Content-Type"] = content_type
        return Answer(self.client.request(method, path, headers=headers, **kwargs))

    def __getattr__(self, method: str) -> Any:
        return lambda path, **kwargs: self.open(path, method.upper(), **kwargs)

    def test_client(self) -> FunctionClient:
        return self


def function_app(group: str) -> FunctionClient:
    return FunctionClient(
        functions_framework.create_app(
            target="entry", source=str(ROOT / "functions" / group / "main.py")
        )
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
from starlette.testclient import TestClient
app = functions_framework.create_app(target="entry", source={source!r})
before = (gc.get_threshold()[0], gc.get_freeze_count())
TestClient(app).get("/openapi.json")
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
