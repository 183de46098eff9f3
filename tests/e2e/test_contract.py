"""The OpenAPI document says exactly what the server does: schemathesis with its default
settings (no project config, no hooks: `--checks all`) against the real local server, signed in
as a fresh user, finds nothing. Every rule JSON Schema can state is in the document (a page
cursor's shape, header names, URLs, free-form JSON's levels); a rule it cannot (an agent that
must exist, a credential bound to other hosts) is a 404 or a 409, as a client generated from
the document expects of valid data.

`make fuzz` runs schemathesis's defaults whole: every phase (examples, coverage, fuzzing,
stateful) with 100 examples per operation, ~8 min on 2 cores. `make test` runs the examples,
fuzzing and stateful phases with FUZZ_EXAMPLES (10) per operation, ~1 min: the coverage
phase alone takes 2-4 min here, as long as the rest of the suite allows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
PHASES = os.environ.get("FUZZ_PHASES", "examples,fuzzing,stateful")  # "all": every phase
MIN_CASES = 70 * EXAMPLES  # 73 operations, nearly each reached that often
SEED = "1234"


def signed_in(http: Any, name: str) -> str:
    password = "correct horse battery"
    http.post(
        "/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": password},
    )
    tokens = http.post("/auth/login", json={"username": name, "password": password}).json()
    return str(tokens["access_token"])


@pytest.fixture
def fuzzer(database_url: str) -> Iterator[str]:
    """The fuzzing user; its schedules stopped after (the database is the suite's, and the
    servers sweep it: what fires would be other tests' runs)."""
    name = f"fuzz_{uuid.uuid4().hex[:8]}"
    yield name
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE schedules SET enabled = false, next_run_at = NULL"
                " WHERE user_id = (SELECT id FROM users WHERE username = :name)"
            ),
            {"name": name},
        )
    engine.dispose()


def test_schemathesis_finds_nothing(http: Any, tmp_path: Path, fuzzer: str) -> None:
    token = signed_in(http, fuzzer)
    st = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [
            str(st),
            "run",
            f"{http.url}/openapi.json",
            "--checks",
            "all",
            "--seed",
            SEED,
            "--max-examples",
            str(EXAMPLES),
            "--header",
            f"Authorization: Bearer {token}",
            "--no-color",
            *([] if PHASES == "all" else ["--phases", PHASES]),
            "--generation-database",
            "none",  # the same cases on every machine, whatever ran before
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        cwd=tmp_path,  # no schemathesis.toml: the defaults
        env={k: v for k, v in os.environ.items() if not k.startswith("SCHEMATHESIS_")},
        capture_output=True,
        text=True,
        timeout=900,
    )
    summary = result.stdout[result.stdout.rfind("SUMMARY") :]
    print(summary)  # shown with -s, and kept in CI's log on failure
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    cases = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert cases is not None, summary
    assert int(cases.group(1)) >= MIN_CASES
    phases = ["Examples", "Coverage", "Fuzzing", "Stateful"] if PHASES == "all" else []
    for phase in phases or [p.capitalize() for p in PHASES.split(",")]:
        assert f"✅ {phase}" in summary, summary
