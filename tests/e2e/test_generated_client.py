"""A client generated from /openapi.json by a maintained generator (openapi-python-client) works:
it drives register → login → create agent → execute → session turn → upload artifact → publish
→ search against the real local server, reading every answer into its generated models."""

from __future__ import annotations

import importlib
import io
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

PACKAGE = "agents_service_client"  # from the document's title


@pytest.fixture
def generated(http: Any, tmp_path: Path) -> Iterator[ModuleType]:
    spec = tmp_path / "openapi.json"
    spec.write_text(requests.get(f"{http.url}/openapi.json", timeout=30).text)
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("openapi-python-client")),
            "generate",
            "--path",
            str(spec),
            "--meta",
            "none",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # the generator drops what it cannot read and says so: nothing may be dropped
    assert "Unable to" not in output, output
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def test_a_generated_client_drives_the_service(http: Any, generated: ModuleType) -> None:
    api = importlib.import_module(f"{PACKAGE}.api")
    models = importlib.import_module(f"{PACKAGE}.models")
    types = importlib.import_module(f"{PACKAGE}.types")
    from_package = importlib.import_module(PACKAGE)
    steps: list[str] = []

    def call(operation: str, **kwargs: Any) -> Any:
        group = operation.split("_")[0]
        module = importlib.import_module(f"{api.__name__}.{group}.{operation}")
        answer = module.sync(**kwargs)
        assert not isinstance(answer, models.ErrorResponse), (operation, answer)
        assert answer is not None, operation
        steps.append(f"{operation}: {type(answer).__name__}")
        return answer

    anonymous = from_package.Client(base_url=http.url)
    with anonymous:
        tokens = signed_up(call, models, anonymous)
    client = from_package.AuthenticatedClient(base_url=http.url, token=tokens.access_token)
    with client:
        drive(call, models, types, client)
    print("\n".join(steps))


def signed_up(call: Any, models: ModuleType, anonymous: Any) -> Any:
    name = f"gen_{uuid.uuid4().hex[:8]}"
    user = call(
        "auth_register",
        client=anonymous,
        body=models.RegisterRequest(
            username=name, email=f"{name}@example.com", password="correct horse battery"
        ),
    )
    assert user.username == name
    return call(
        "auth_login",
        client=anonymous,
        body=models.LoginRequest(username=name, password="correct horse battery"),
    )


def drive(call: Any, models: ModuleType, types: ModuleType, client: Any) -> None:
    agent = call(
        "agents_create_agent",
        client=client,
        body={
            "name": "generated",
            "display_name": "Generated",
            "definition": {"model": {"provider": "test", "name": "test"}, "system_prompt": "hi"},
        },
    )
    run = call(
        "agents_execute",
        agent_id=agent.id,
        client=client,
        body=models.ExecuteRequest(input_="hello"),
    )
    assert str(run.status) == "succeeded"
    session = call(
        "sessions_create_session", client=client, body=models.SessionCreate(agent_id=agent.id)
    )
    turn = call(
        "sessions_post_message",
        session_id=session.id,
        client=client,
        body=models.MessageRequest(content="and again"),
    )
    assert str(turn.status) == "succeeded"
    assert turn.session_id == session.id
    artifact = call(
        "artifacts_upload_artifact",
        client=client,
        body=models.ArtifactsUploadArtifactBody(
            session_id=session.id,
            file=types.File(
                payload=io.BytesIO(b"notes"), file_name="notes.txt", mime_type="text/plain"
            ),
        ),
    )
    assert artifact.size_bytes == 5
    category = f"gen-{uuid.uuid4().hex[:8]}"
    listing = call(
        "marketplace_publish",
        client=client,
        body=models.ListingCreate(agent_id=agent.id, category=category, tags=["generated"]),
    )
    found = call("marketplace_search", client=client, category=category)
    assert [item.id for item in found.items] == [listing.id]
