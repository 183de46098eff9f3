"""The console in a real browser: Debian's chromium (/usr/bin/chromium, what .ci/run installs)
driven by Playwright, against a real server process serving the built bundle."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import free_port, start_server, stop_server

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / ".data" / "console-screenshots"
BUNDLE = ROOT / "console" / "dist" / "index.html"


@pytest.fixture(scope="session")
def console_url(database_url: str) -> Iterator[str]:
    """A server process (what `make dev` runs, on the test database) serving /console."""
    if not BUNDLE.is_file():
        pytest.fail("console/dist is not built: `make test` builds it (Node.js 20 needed)")
    given = os.environ.get("CONSOLE_TEST_URL")  # a server already running (iterating by hand)
    if given:
        yield given
        return
    port = free_port()
    process = start_server({"DATABASE_URL": database_url}, port)
    yield f"http://127.0.0.1:{port}"
    stop_server(process)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        missing = f"no chromium at {CHROMIUM}: `apt-get install chromium` (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    return SCREENSHOTS
