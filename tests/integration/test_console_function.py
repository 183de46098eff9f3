"""The console function's answers: the page with its security headers, hashed assets cached for
good, nothing outside the bundle, and a clear 503 when the bundle was never built."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.services import console


@pytest.fixture
def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text('<script type="module" src="/console/assets/a-1.js"></script>')
    (dist / "assets" / "a-1.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("not for you")
    monkeypatch.setattr(console, "PLACES", (tmp_path / "nowhere", dist))
    return dist


def test_the_page_and_its_assets(client, bundle):
    page = client.get("/console")
    assert page.status_code == 200
    assert page.content_type.startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-cache"
    script = client.get("/console/assets/a-1.js")
    assert script.status_code == 200
    assert script.content_type.startswith("text/javascript")
    assert "immutable" in script.headers["Cache-Control"]
    assert script.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "path", ["/console/../secret.txt", "/console/%2e%2e/secret.txt", "/console/nope.js"]
)
def test_nothing_outside_the_bundle_is_served(client, bundle, path):
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "not_found"


def test_an_unbuilt_console_says_how_to_build_it(client, tmp_path, monkeypatch):
    monkeypatch.setattr(console, "PLACES", (tmp_path / "none",))
    answer = client.get("/console")
    assert answer.status_code == 503
    assert answer.get_json()["error"]["code"] == "console_not_built"
    assert "make dev" in answer.get_json()["error"]["message"]


def test_the_console_is_not_in_the_api_document(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert not [p for p in paths if p.startswith("/console")]
