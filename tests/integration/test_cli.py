from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import unique_name
from tests.support.api import PASSWORD, bearer, login

ROOT = Path(__file__).resolve().parents[2]


def _create_admin(username: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "core.cli",
            "create-admin",
            "--username",
            username,
            "--email",
            f"{username}@example.com",
            "--password-stdin",
        ],
        input=password + "\n",
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_create_admin_makes_a_user_who_can_administer(engine, database_url):
    from core.devserver import local_app

    name = unique_name("admin")
    result = _create_admin(name, PASSWORD)
    assert result.returncode == 0, result.stderr
    assert "is an admin" in result.stdout

    client = local_app(docs=False).test_client()
    token = login(client, name)["access_token"]
    me = client.get("/users/me", headers=bearer(token)).get_json()
    assert me["role"] == "admin"
    assert client.get("/users", headers=bearer(token)).status_code == 200


def test_create_admin_refuses_an_existing_name_with_another_password(engine, database_url):
    name = unique_name("admin")
    assert _create_admin(name, PASSWORD).returncode == 0
    again = _create_admin(name, "a different password")
    assert again.returncode != 0
    assert "another password" in again.stderr
