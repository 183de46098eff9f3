"""cloudbuild.yaml: the pipeline's steps, their order, and Cloud Build's substitution rules."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.terraform import ROOT, load_yaml

PATH = ROOT / "cloudbuild.yaml"
BUILT_INS = {"PROJECT_ID", "PROJECT_NUMBER", "BUILD_ID", "SHORT_SHA", "COMMIT_SHA", "LOCATION"}


@pytest.fixture(scope="module")
def build() -> dict[str, Any]:
    return load_yaml(PATH)  # type: ignore[no-any-return]


def _script(step: dict[str, Any]) -> str:
    return "\n".join(str(arg) for arg in step.get("args", []))


def test_pipeline_order(build: dict[str, Any]) -> None:
    ids = [step["id"] for step in build["steps"]]
    expected = [
        "install",
        "lint",
        "test",
        "stage",
        "terraform-init",
        "migrate-before-apply",
        "terraform-apply",
        "migrate-and-grant",
        "smoke",
    ]
    assert [i for i in ids if i in expected] == expected


def test_steps_do_what_they_say(build: dict[str, Any]) -> None:
    steps = {step["id"]: step for step in build["steps"]}
    lint = _script(steps["lint"])
    assert "ruff check" in lint
    assert "ruff format --check" in lint
    assert "mypy" in lint
    postgres = _script(steps["postgres"])
    assert "--network cloudbuild" in postgres
    assert "--name test-postgres" in postgres
    assert (
        "TEST_DATABASE_URL=postgresql://postgres@test-postgres:5432/postgres"
        in steps["test"]["env"]
    )
    assert "pytest" in _script(steps["test"])
    assert "scripts/stage_functions.py" in _script(steps["stage"])
    console = _script(steps["console"])
    assert "npm --prefix console ci" in console
    assert "run build" in console
    assert "console" in steps["stage"]["waitFor"]  # the console function ships the bundle
    init = _script(steps["terraform-init"])
    assert "terraform -chdir=terraform init" in init
    assert "validate" in init
    assert "backend.tf.example" in init
    for step in ("migrate-before-apply", "migrate-and-grant"):
        script = _script(steps[step])
        assert "INSTANCE_CONNECTION_NAME" in script
        assert "python -m core.cli migrate" in script
        assert "DB_IAM_AUTH=true" in script
    assert "scripts/grant_db_access.py" in _script(steps["migrate-and-grant"])
    apply = _script(steps["terraform-apply"])
    assert "plan -input=false -out=tfplan" in apply
    assert "apply -input=false tfplan" in apply
    assert "/health/ready" in _script(steps["smoke"])


def test_substitutions_are_declared_and_shell_variables_escaped() -> None:
    text = PATH.read_text()
    build = load_yaml(PATH)
    declared = set(build["substitutions"])
    used = set()
    for match in re.finditer(r"(?<!\$)\$(?!\$)\{?([A-Za-z_][A-Za-z0-9_]*)", text):
        used.add(match.group(1))
    unknown = used - declared - BUILT_INS
    assert unknown == set(), "Cloud Build would substitute these: write $$ for shell variables"
    assert declared - used == set(), "unused substitutions make Cloud Build refuse the build"
    assert all(name.startswith("_") for name in declared)
