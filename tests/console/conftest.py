"""The console in a real browser: Debian's chromium (/usr/bin/chromium, what .ci/run installs)
driven by Playwright, against a real server process serving the built bundle."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import free_port, start_server, stop_server
from tests.support.databases import scratch_database

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / ".data" / "console-screenshots"
BUNDLE = ROOT / "console" / "dist" / "index.html"
# what the browser run measured: shown at the end of `make test` and kept beside the screenshots
REPORT: list[str] = []
AXE_RESULTS: dict[str, int] = {}  # page → serious or critical violations axe-core found


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if AXE_RESULTS:
        REPORT.append(f"axe serious+critical violations per page: {AXE_RESULTS}")
        REPORT.append(
            f"screenshots: {sorted(p.name for p in SCREENSHOTS.glob('*.png'))} in {SCREENSHOTS}"
        )
    if REPORT:
        terminalreporter.section("console")
        for line in REPORT:
            terminalreporter.write_line(line)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / "report.txt").write_text("\n".join(REPORT) + "\n")


@pytest.fixture(scope="package")
def database_url(database_url: str) -> Iterator[str]:
    """This package's own database (see tests/e2e/conftest.py's): its server's runs, schedules
    and evals stay out of the suite's database."""
    with scratch_database(database_url, "agents_console", migrated=True) as url:
        yield url


@pytest.fixture(scope="package")
def console_url(database_url: str) -> Iterator[str]:
    """A server process (what `make dev` runs, on this package's database) serving /console."""
    if not BUNDLE.is_file():
        pytest.fail("console/dist is not built: `make test` builds it (Node.js 20 needed)")
    given = os.environ.get("CONSOLE_TEST_URL")  # a server already running (iterating by hand)
    if given:
        yield given
        return
    port = free_port()
    # the MCP server the flow adds runs on 127.0.0.1, which runs may reach only when allowed
    env = {"DATABASE_URL": database_url, "MCP_ALLOWED_HOSTS": "127.0.0.1"}
    process = start_server(env, port)
    yield f"http://127.0.0.1:{port}"
    stop_server(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped: Playwright's sync API holds an event loop on this thread while it runs,
    which the tests after these (asyncio.run of their own) must not find."""
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


@pytest.fixture(scope="session")
def mcp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real FastMCP server on 127.0.0.1 that knows the bearer token `tok-ann`."""
    from tests.support.mcp_server import serving

    with serving(tmp_path_factory.mktemp("mcp"), {"tok-ann": "ann"}) as server:
        yield server
