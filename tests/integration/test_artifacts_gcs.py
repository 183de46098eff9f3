"""The Cloud Storage backend against a real emulator (gcp-storage-emulator, started once per
run on a free loopback port by tests/support/gcs_emulator.py): create-once objects, streamed
reads, V4 signed URLs made with a throwaway service-account key, the API in GCS mode, and the
file tools over a workspace in the bucket."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account

from core.artifacts import record_workspace_files
from core.clock import utcnow
from core.config import Settings, get_settings
from core.models.sessions import Artifact
from core.storage import ObjectExists, ObjectNotFound, get_artifact_store
from core.storage.gcs import GcsArtifactStore
from core.storage.paths import PathRefused
from core.storage.store import CHUNK_BYTES
from core.storage.workspace import StoreWorkspace, workspace_for
from core.tools import file_tools
from tests.integration.test_artifacts_api import (
    new_execution,
    new_session,
    settings_env,
    upload,
)
from tests.support.api import assert_error, signed_up
from tests.support.gcs_emulator import GcsEmulator, gcs_emulator

SIGNER = "artifact-signer@test-project.iam.gserviceaccount.com"


@pytest.fixture(scope="session")
def emulator() -> GcsEmulator:
    return gcs_emulator()


@pytest.fixture(scope="session")
def signing_key() -> service_account.Credentials:
    """A throwaway service-account key: V4 signing needs a private key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return service_account.Credentials.from_service_account_info(
        {
            "type": "service_account",
            "project_id": "test-project",
            "private_key_id": "throwaway",
            "private_key": pem,
            "client_email": SIGNER,
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    )


@pytest.fixture
def bucket(emulator: GcsEmulator) -> str:
    name = f"artifacts-{uuid.uuid4().hex[:12]}"
    emulator.create_bucket(name)
    return name


@pytest.fixture
def gcs(emulator, bucket, signing_key) -> GcsArtifactStore:
    return GcsArtifactStore(
        bucket, Settings(), client=emulator.client(), signing_credentials=signing_key
    )


def test_put_read_open_list_delete(gcs, emulator, bucket):
    data = b"stored in a bucket"
    stored = gcs.put("artifacts/u/a1/x.txt", data, content_type="text/plain")
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    blob = emulator.client().bucket(bucket).get_blob("artifacts/u/a1/x.txt")
    assert blob.content_type == "text/plain"
    assert gcs.read("artifacts/u/a1/x.txt", max_bytes=6, offset=7) == (b"in a b", len(data))
    assert gcs.read("artifacts/u/a1/x.txt", max_bytes=0) == (b"", len(data))
    assert gcs.read("artifacts/u/a1/x.txt", max_bytes=5, offset=500) == (b"", len(data))
    assert b"".join(gcs.open("artifacts/u/a1/x.txt")) == data
    gcs.put("artifacts/u/a2/y.txt", b"y", content_type="text/plain")
    gcs.put("other/z", b"z", content_type="text/plain")
    assert list(gcs.list("artifacts/")) == [
        ("artifacts/u/a1/x.txt", len(data)),
        ("artifacts/u/a2/y.txt", 1),
    ]
    gcs.delete("artifacts/u/a1/x.txt")
    gcs.delete("artifacts/u/a1/x.txt")  # missing is fine
    assert [k for k, _ in gcs.list("")] == ["artifacts/u/a2/y.txt", "other/z"]
    with pytest.raises(ObjectNotFound):
        gcs.open("artifacts/u/a1/x.txt")
    with pytest.raises(ObjectNotFound):
        gcs.read("artifacts/u/a1/x.txt", max_bytes=1)


def test_objects_are_created_once_with_a_generation_precondition(gcs):
    gcs.put("k/once", b"first", content_type="text/plain")
    with pytest.raises(ObjectExists):
        gcs.put("k/once", b"second", content_type="text/plain")
    assert b"".join(gcs.open("k/once")) == b"first"
    # the same bytes again (a retried upload that had landed) is not a conflict
    assert gcs.put("k/once", b"first", content_type="text/plain").size == 5
    # workspace files are replaced in place
    gcs.put("k/once", b"replaced", content_type="text/plain", overwrite=True)
    assert b"".join(gcs.open("k/once")) == b"replaced"


def test_uploads_past_the_multipart_size_are_created_once_too(gcs):
    """Over 8 MiB the client switches to a resumable upload; the precondition still holds."""
    data = os.urandom(9 * 1024 * 1024)
    gcs.put("k/large", data, content_type="application/octet-stream")
    with pytest.raises(ObjectExists):
        gcs.put("k/large", data[:-1] + b"!", content_type="application/octet-stream")
    assert hashlib.sha256(b"".join(gcs.open("k/large"))).digest() == hashlib.sha256(data).digest()


def test_large_objects_stream_in_chunks_of_one_generation(gcs):
    data = os.urandom(CHUNK_BYTES * 2 + 123)
    gcs.put("big.bin", data, content_type="application/octet-stream")
    chunks = list(gcs.open("big.bin"))
    assert [len(c) for c in chunks] == [CHUNK_BYTES, CHUNK_BYTES, 123]
    assert b"".join(chunks) == data


def test_a_signed_url_downloads_the_object_as_an_attachment(gcs, emulator):
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(5000)
    gcs.put("artifacts/u/a/chart.png", data, content_type="image/png")
    url = gcs.signed_url(
        "artifacts/u/a/chart.png", ttl_s=600, filename="chart été.png", content_type="image/png"
    )
    assert url is not None
    assert url.startswith(emulator.endpoint + "/")
    query = parse_qs(urlsplit(url).query)
    assert query["X-Goog-Algorithm"] == ["GOOG4-RSA-SHA256"]
    assert query["X-Goog-Expires"] == ["600"]
    assert query["X-Goog-Credential"][0].startswith(SIGNER + "/")
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Disposition"].startswith(
        'attachment; filename="chart_ete.png"'
    )


def test_signed_urls_live_at_most_fifteen_minutes(gcs):
    gcs.put("k", b"x", content_type="text/plain")
    url = gcs.signed_url("k", ttl_s=86_400, filename="k", content_type="text/plain")
    assert parse_qs(urlsplit(url).query)["X-Goog-Expires"] == ["900"]


@pytest.fixture
def artifact_store(gcs, bucket) -> Iterator[GcsArtifactStore]:
    with settings_env(ARTIFACTS_BUCKET=bucket):
        yield gcs


@pytest.fixture
def gcs_mode(artifact_store: GcsArtifactStore) -> GcsArtifactStore:
    """The app's artifacts in the emulator's bucket (the `backends` fixture gives it)."""
    return artifact_store


def test_the_api_redirects_downloads_to_a_signed_url(gcs_mode, client, db, emulator, bucket):
    user, headers = signed_up(client)
    session_id = new_session(db, client, headers, user)
    data = os.urandom(70_000)
    created = upload(
        client, headers, data, filename="blob.bin", content_type=None, session_id=session_id
    ).get_json()
    row = db.get(Artifact, uuid.UUID(created["id"]))
    blob = emulator.client().bucket(bucket).get_blob(row.storage_key)
    assert blob.size == len(data)
    assert blob.content_type == "application/octet-stream"

    response = client.get(f"/artifacts/{created['id']}/content", headers=headers)
    assert response.status_code == 302
    assert response.headers["Cache-Control"] == "private, no-store"
    location = response.headers["Location"]
    assert location.startswith(f"{emulator.endpoint}/{bucket}/{row.storage_key}?")
    downloaded = requests.get(location, timeout=10)
    assert downloaded.content == data
    assert hashlib.sha256(downloaded.content).hexdigest() == created["sha256"]

    # another user learns nothing, not even a URL
    _, their_headers = signed_up(client)
    assert_error(client.get(f"/artifacts/{created['id']}/content", headers=their_headers), 404)

    assert client.delete(f"/artifacts/{created['id']}", headers=headers).status_code == 204
    assert emulator.client().bucket(bucket).get_blob(row.storage_key) is None


def test_the_configured_store_creates_its_client_on_first_use(emulator, bucket, client, db):
    """ARTIFACTS_BUCKET selects GCS; with STORAGE_EMULATOR_HOST the client is anonymous, so
    there is no key to sign with and the API streams the bytes itself."""
    with settings_env(ARTIFACTS_BUCKET=bucket, STORAGE_EMULATOR_HOST=emulator.endpoint):
        store = get_artifact_store(get_settings())
        assert isinstance(store, GcsArtifactStore)
        assert store._client is None  # nothing created yet
        user, headers = signed_up(client)
        session_id = new_session(db, client, headers, user)
        created = upload(client, headers, b"via env", session_id=session_id).get_json()
        client_in_use = store._client
        assert client_in_use is not None
        content = client.get(f"/artifacts/{created['id']}/content", headers=headers)
        assert content.status_code == 200
        assert content.data == b"via env"
        assert get_artifact_store(get_settings()) is store
        assert store._client is client_in_use  # reused, not rebuilt


def test_file_tools_work_in_a_bucket_workspace(gcs_mode, emulator, bucket):
    session_id = uuid.uuid4()
    ws = workspace_for(
        get_settings(),
        gcs_mode,
        session_id=session_id,
        execution_id=uuid.uuid4(),
    )
    assert isinstance(ws, StoreWorkspace)
    ctx: Any = SimpleNamespace(deps=SimpleNamespace(workspace=ws, repo=None))
    file_tools.file_write(ctx, "src/main.py", "def main():\n    return 42\n")
    file_tools.file_write(ctx, "notes/todo.md", "- call main\n")
    file_tools.file_write(ctx, "notes/todo.md", "- call main\n- ship\n")  # replaced in place
    assert file_tools.file_read(ctx, "notes/todo.md") == "- call main\n- ship\n"
    assert file_tools.find(ctx, "*.md") == "notes/todo.md"
    assert file_tools.grep(ctx, r"main").splitlines()[:2] == [
        "notes/todo.md:1: - call main",
        "src/main.py:1: def main():",
    ]
    names = sorted(b.name for b in emulator.client().list_blobs(bucket))
    assert names == [
        f"workspaces/{session_id}/notes/todo.md",
        f"workspaces/{session_id}/src/main.py",
    ]
    with pytest.raises(PathRefused):
        ws.write("src/main.py/inner", b"x")
    with pytest.raises(file_tools.ModelRetry):
        file_tools.file_write(ctx, "../../artifacts/steal", "x")


def test_a_bucket_workspaces_files_become_artifacts(gcs_mode, client, db):
    user, headers = signed_up(client)
    session_id = new_session(db, client, headers, user)
    ws = workspace_for(
        get_settings(),
        gcs_mode,
        session_id=uuid.UUID(session_id),
        execution_id=uuid.uuid4(),
    )
    ws.write("report.md", b"# findings")
    created = record_workspace_files(
        db,
        now=utcnow(),
        store=gcs_mode,
        settings=get_settings(),
        user_id=uuid.UUID(user["id"]),
        session_id=uuid.UUID(session_id),
        execution_id=uuid.UUID(new_execution(db, user, session_id)),
        workspace=ws,
    )
    assert [a.name for a in created] == ["report.md"]
    assert b"".join(gcs_mode.open(created[0].storage_key)) == b"# findings"
    assert created[0].storage_key.startswith(f"artifacts/{user['id']}/")
