"""CORS from ALLOWED_ORIGINS: preflights of listed origins pass, others get the error body, and
responses name the origin (never `*`, never with credentials)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core.config import Settings, reset_settings
from core.errors import ConfigError
from tests.support.api import assert_error

CONSOLE = "https://console.example.com"
LOCAL = "http://localhost:5173"


@pytest.fixture
def origins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ALLOWED_ORIGINS", f"{CONSOLE}, {LOCAL}/")
    reset_settings()
    yield
    monkeypatch.delenv("ALLOWED_ORIGINS")
    reset_settings()


def preflight(client: Any, path: str, origin: str, method: str = "POST") -> Any:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


@pytest.mark.parametrize("origin", [CONSOLE, LOCAL])
def test_a_listed_origins_preflight_is_answered(client: Any, origins: None, origin: str) -> None:
    response = preflight(client, "/agents", origin)

    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_another_origins_preflight_is_refused_with_the_error_body(
    client: Any, origins: None
) -> None:
    response = preflight(client, "/agents", "https://evil.example.com")

    assert_error(response, 403, "origin_not_allowed")
    assert "Access-Control-Allow-Origin" not in response.headers


def test_without_allowed_origins_every_preflight_is_refused(client: Any) -> None:
    assert_error(preflight(client, "/agents", CONSOLE), 403, "origin_not_allowed")
    assert (
        "Access-Control-Allow-Origin"
        not in client.get("/openapi.json", headers={"Origin": CONSOLE}).headers
    )


def test_responses_name_a_listed_origin_errors_included(client: Any, origins: None) -> None:
    ok = client.get("/openapi.json", headers={"Origin": CONSOLE})
    assert ok.headers["Access-Control-Allow-Origin"] == CONSOLE
    assert "Location" in ok.headers["Access-Control-Expose-Headers"]
    # a browser reads the error body too (here: no token)
    refused = client.get("/users/me", headers={"Origin": CONSOLE})
    assert_error(refused, 401)
    assert refused.headers["Access-Control-Allow-Origin"] == CONSOLE
    other = client.get("/openapi.json", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Origin" in other.headers["Vary"]


@pytest.mark.parametrize(
    "value", ["*", "https://console.example.com/app", "console.example.com", "ftp://x.example"]
)
def test_allowed_origins_must_be_origins(value: str) -> None:
    with pytest.raises(ConfigError, match="ALLOWED_ORIGINS"):
        Settings.from_environ({"ALLOWED_ORIGINS": value})


def test_allowed_origins_are_normalized() -> None:
    settings = Settings.from_environ(
        {"ALLOWED_ORIGINS": " https://a.example.com/ ,http://[::1]:3000"}
    )
    assert settings.cors_origins == {"https://a.example.com", "http://[::1]:3000"}
