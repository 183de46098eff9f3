"""The console's component tests (Vitest: the stream parser, the token handling, the forms
generated from JSON schemas, the version diff), run by `make test` like every other test."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.console.conftest import ROOT


def test_vitest_passes():
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm not found: Node.js 20 is needed for the console")
    done = subprocess.run(
        [npm, "--prefix", str(ROOT / "console"), "test", "--silent"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "passed" in done.stdout
