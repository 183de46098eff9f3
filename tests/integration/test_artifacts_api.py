"""Artifacts over the API with the local store: upload, list, metadata, content, delete; the
size limit; who sees what; and files written by runs becoming artifacts."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from core.config import Settings, get_settings, reset_settings
from core.models.executions import AgentExecution, ExecutionStatus
from core.models.sessions import AgentSession, Artifact
from core.storage import StoreUnavailable
from core.storage.store import LocalArtifactStore
from tests.support.agents import create_agent
from tests.support.api import assert_error, signed_up

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64

# --- helpers (also used by test_artifacts_gcs.py) ----------------------------------------------


@contextmanager
def settings_env(**values: str) -> Iterator[Settings]:
    """Settings read with these environment variables, restored (and re-read) afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    reset_settings()
    try:
        yield get_settings()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_settings()


def new_session(db: Any, client: Any, headers: dict[str, str], user: dict[str, Any]) -> str:
    """A session of `user`, made in the test's transaction (artifacts need no sessions API)."""
    agent = create_agent(client, headers)
    session = AgentSession(user_id=uuid.UUID(user["id"]), agent_id=uuid.UUID(agent["id"]))
    db.add(session)
    db.flush()
    return str(session.id)


def new_execution(db: Any, user: dict[str, Any], session_id: str) -> str:
    """A finished run of `user` in that session."""
    session = db.get(AgentSession, uuid.UUID(session_id))
    execution = AgentExecution(
        agent_id=session.agent_id,
        agent_version="1.0.0",
        user_id=uuid.UUID(user["id"]),
        session_id=session.id,
        status=ExecutionStatus.succeeded,
    )
    db.add(execution)
    db.flush()
    return str(execution.id)


def upload(
    client: Any,
    headers: dict[str, str],
    data: bytes,
    *,
    filename: str = "notes.txt",
    content_type: str | None = "text/plain",
    **fields: str,
) -> Any:
    part = (
        (io.BytesIO(data), filename, content_type) if content_type else (io.BytesIO(data), filename)
    )
    return client.post(
        "/artifacts",
        headers=headers,
        data={**fields, "file": part},
        content_type="multipart/form-data",
    )


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def artifact_store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def store(artifact_store: LocalArtifactStore) -> LocalArtifactStore:
    """The app's artifact store (the `backends` fixture gives it to the app)."""
    return artifact_store


@pytest.fixture
def owner(client, db, store):
    user, headers = signed_up(client)
    return user, headers, new_session(db, client, headers, user)


@pytest.fixture
def stranger(client, db):
    user, headers = signed_up(client)
    return user, headers, new_session(db, client, headers, user)


# --- the happy path -------------------------------------------------------------------------


def test_upload_list_read_download_and_delete(client, db, owner, store):
    user, headers, session_id = owner
    data = "héllo, artifact\n".encode()
    response = upload(client, headers, data, filename="greeting.txt", session_id=session_id)
    assert response.status_code == 201, response.get_json()
    artifact = response.get_json()
    assert artifact["name"] == "greeting.txt"
    assert artifact["content_type"] == "text/plain"
    assert artifact["size_bytes"] == len(data)
    assert artifact["sha256"] == hashlib.sha256(data).hexdigest()
    assert artifact["session_id"] == session_id
    assert artifact["execution_id"] is None
    assert artifact["user_id"] == user["id"]
    assert artifact["content_url"] == f"/artifacts/{artifact['id']}/content"

    row = db.get(Artifact, uuid.UUID(artifact["id"]))
    assert row.storage_key == f"artifacts/{user['id']}/{artifact['id']}/greeting.txt"
    assert [key for key, _ in store.list("")] == [row.storage_key]

    listed = client.get("/artifacts", headers=headers).get_json()
    assert [a["id"] for a in listed["items"]] == [artifact["id"]]
    assert client.get(f"/artifacts/{artifact['id']}", headers=headers).get_json() == artifact

    content = client.get(f"/artifacts/{artifact['id']}/content", headers=headers)
    assert content.status_code == 200
    assert content.data == data
    assert content.headers["Content-Type"] == "text/plain"
    assert content.headers["Content-Length"] == str(len(data))
    assert content.headers["X-Content-Type-Options"] == "nosniff"
    assert content.headers["Content-Disposition"].startswith('attachment; filename="greeting.txt"')

    deleted = client.delete(f"/artifacts/{artifact['id']}", headers=headers)
    assert deleted.status_code == 204
    assert list(store.list("")) == []
    assert_error(
        client.get(f"/artifacts/{artifact['id']}", headers=headers), 404, "artifact_not_found"
    )
    assert client.get("/artifacts", headers=headers).get_json()["items"] == []


def test_a_binary_file_downloads_byte_identical_with_its_sniffed_type(client, owner):
    _, headers, session_id = owner
    data = PNG + os.urandom(300_000)
    created = upload(
        client,
        headers,
        data,
        filename="chart.png",
        content_type="application/octet-stream",
        session_id=session_id,
    ).get_json()
    assert created["content_type"] == "image/png"
    content = client.get(f"/artifacts/{created['id']}/content", headers=headers)
    assert content.data == data
    assert hashlib.sha256(content.data).hexdigest() == created["sha256"]
    assert content.headers["Content-Type"] == "image/png"


def test_file_names_are_cleaned_and_kept_exactly_for_the_download(client, db, owner):
    user, headers, session_id = owner
    created = upload(
        client, headers, b"x", filename="../../etc/Résumé final.txt", session_id=session_id
    ).get_json()
    assert created["name"] == "Résumé final.txt"
    row = db.get(Artifact, uuid.UUID(created["id"]))
    assert row.storage_key == f"artifacts/{user['id']}/{created['id']}/Resume_final.txt"
    with client.get(f"/artifacts/{created['id']}/content", headers=headers) as content:
        disposition = content.headers["Content-Disposition"]
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "Résumé final.txt"


def test_binary_content_declared_as_text_is_not_served_as_text(client, owner):
    _, headers, session_id = owner
    created = upload(
        client,
        headers,
        b"\x00\x01\x02evil",
        filename="x.html",
        content_type="text/html",
        session_id=session_id,
    ).get_json()
    assert created["content_type"] == "application/octet-stream"


def test_an_upload_can_name_a_run_of_its_session(client, db, owner):
    user, headers, session_id = owner
    execution_id = new_execution(db, user, session_id)
    created = upload(
        client, headers, b"out", session_id=session_id, execution_id=execution_id
    ).get_json()
    assert created["execution_id"] == execution_id

    other_session = new_session(db, client, headers, user)
    response = upload(client, headers, b"x", session_id=other_session, execution_id=execution_id)
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["loc"] == ["body", "execution_id"]


def test_lists_filter_by_session_and_run_and_page_by_cursor(client, db, owner):
    user, headers, session_id = owner
    other_session = new_session(db, client, headers, user)
    execution_id = new_execution(db, user, session_id)
    ids = [
        upload(client, headers, f"{i}".encode(), session_id=session_id).get_json()["id"]
        for i in range(3)
    ]
    in_run = upload(
        client, headers, b"r", session_id=session_id, execution_id=execution_id
    ).get_json()["id"]
    elsewhere = upload(client, headers, b"e", session_id=other_session).get_json()["id"]

    def listed(**query: Any) -> list[str]:
        items, cursor = [], None
        while True:
            params = {**query, "limit": 2} | ({"cursor": cursor} if cursor else {})
            page = client.get("/artifacts", headers=headers, query_string=params).get_json()
            items += [a["id"] for a in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return items

    assert listed() == [elsewhere, in_run, *reversed(ids)]
    assert listed(session_id=session_id) == [in_run, *reversed(ids)]
    assert listed(execution_id=execution_id) == [in_run]
    assert listed(session_id=other_session) == [elsewhere]
    assert_error(client.get("/artifacts?limit=0", headers=headers), 422)
    assert_error(client.get("/artifacts?session_id=nope", headers=headers), 422)
    assert_error(client.get("/artifacts?cursor=garbage", headers=headers), 422)


# --- limits and validation ------------------------------------------------------------------


@pytest.fixture
def small_limit() -> Iterator[Settings]:
    with settings_env(ARTIFACT_MAX_BYTES="2048") as settings:
        yield settings


def test_a_file_over_the_limit_is_413_and_at_the_limit_is_stored(small_limit, client, owner, store):
    _, headers, session_id = owner
    assert upload(client, headers, b"a" * 2048, session_id=session_id).status_code == 201
    response = upload(client, headers, b"a" * 2049, session_id=session_id)
    assert_error(response, 413, "payload_too_large")
    assert len(list(store.list(""))) == 1


def test_a_body_far_over_the_limit_is_refused_before_it_is_parsed(small_limit, client, owner):
    _, headers, session_id = owner
    response = upload(client, headers, b"a" * 200_000, session_id=session_id)
    assert_error(response, 413, "payload_too_large")


def test_the_artifacts_function_refuses_an_oversized_upload_at_its_entry(small_limit, db, owner):
    from tests.integration.test_function_entry import function_app

    _, headers, session_id = owner
    client = function_app("artifacts").test_client()
    assert upload(client, headers, b"ok", session_id=session_id).status_code == 201
    response = upload(client, headers, b"a" * 200_000, session_id=session_id)
    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"session_id": "not-a-uuid"}, ["body", "session_id"]),
        ({}, ["body", "session_id"]),
        ({"session_id": "SID", "execution_id": "nope"}, ["body", "execution_id"]),
        ({"session_id": "SID", "colour": "red"}, ["body", "colour"]),
    ],
)
def test_invalid_form_fields_are_422_naming_the_field(client, owner, fields, loc):
    _, headers, session_id = owner
    fields = {k: (session_id if v == "SID" else v) for k, v in fields.items()}
    error = assert_error(upload(client, headers, b"x", **fields), 422, "validation_error")
    assert loc in [d["loc"] for d in error["details"]]


def test_a_missing_file_or_a_plain_field_named_file_is_422(client, owner):
    _, headers, session_id = owner
    response = client.post(
        "/artifacts",
        headers=headers,
        data={"session_id": session_id},
        content_type="multipart/form-data",
    )
    error = assert_error(response, 422)
    assert error["details"][0]["loc"] == ["body", "file"]
    response = client.post(
        "/artifacts",
        headers=headers,
        data={"session_id": session_id, "file": "just text"},
        content_type="multipart/form-data",
    )
    assert assert_error(response, 422)["details"][0]["type"] == "file_type"
    # what a browser sends when no file was chosen
    response = client.post(
        "/artifacts",
        headers=headers,
        data={"session_id": session_id, "file": (io.BytesIO(b""), "")},
        content_type="multipart/form-data",
    )
    assert assert_error(response, 422)["details"][0]["type"] == "missing"


def test_two_files_or_an_unexpected_file_are_422(client, owner):
    _, headers, session_id = owner
    response = client.post(
        "/artifacts",
        headers=headers,
        data={
            "session_id": session_id,
            "file": [(io.BytesIO(b"1"), "a.txt"), (io.BytesIO(b"2"), "b.txt")],
            "other": (io.BytesIO(b"3"), "c.txt"),
        },
        content_type="multipart/form-data",
    )
    details = assert_error(response, 422)["details"]
    assert {d["type"] for d in details} == {"too_many", "extra_forbidden"}


def test_a_json_body_is_415_multipart_required(client, owner):
    _, headers, session_id = owner
    response = client.post("/artifacts", headers=headers, json={"session_id": session_id})
    assert_error(response, 415, "multipart_required")


def test_an_unknown_session_is_404(client, owner):
    _, headers, _ = owner
    response = upload(client, headers, b"x", session_id=str(uuid.uuid4()))
    assert_error(response, 404, "session_not_found")


def test_every_route_needs_a_token(client, owner):
    _, headers, session_id = owner
    created = upload(client, headers, b"x", session_id=session_id).get_json()
    assert_error(upload(client, {}, b"x", session_id=session_id), 401)
    for method, path in [
        ("get", "/artifacts"),
        ("get", f"/artifacts/{created['id']}"),
        ("get", f"/artifacts/{created['id']}/content"),
        ("delete", f"/artifacts/{created['id']}"),
    ]:
        assert_error(getattr(client, method)(path), 401)


# --- another user's artifacts ---------------------------------------------------------------


def test_another_users_artifact_is_404_on_every_route(client, db, owner, stranger, store):
    user, headers, session_id = owner
    execution_id = new_execution(db, user, session_id)
    created = upload(
        client, headers, b"private", session_id=session_id, execution_id=execution_id
    ).get_json()
    _, their_headers, their_session = stranger

    for method, path in [
        ("get", f"/artifacts/{created['id']}"),
        ("get", f"/artifacts/{created['id']}/content"),
        ("delete", f"/artifacts/{created['id']}"),
    ]:
        assert_error(
            getattr(client, method)(path, headers=their_headers), 404, "artifact_not_found"
        )
    for query in [{}, {"session_id": session_id}, {"execution_id": execution_id}]:
        page = client.get("/artifacts", headers=their_headers, query_string=query).get_json()
        assert page["items"] == []
    # nor can they put files into the owner's session or run
    assert_error(
        upload(client, their_headers, b"x", session_id=session_id), 404, "session_not_found"
    )
    response = upload(
        client, their_headers, b"x", session_id=their_session, execution_id=execution_id
    )
    assert_error(response, 404, "execution_not_found")
    # and the owner's artifact is untouched
    assert client.get(f"/artifacts/{created['id']}/content", headers=headers).data == b"private"
    assert len(list(store.list(""))) == 1


def test_an_admin_does_not_see_other_users_artifacts_either(client, db, owner):
    from tests.support.api import signed_up_with_role

    _, headers, session_id = owner
    created = upload(client, headers, b"mine", session_id=session_id).get_json()
    _, admin_headers = signed_up_with_role(client, db, "admin")
    assert_error(client.get(f"/artifacts/{created['id']}", headers=admin_headers), 404)


# --- stored objects and rows stay consistent ------------------------------------------------


def test_a_missing_object_is_a_404_and_the_artifact_can_still_be_deleted(client, db, owner, store):
    _, headers, session_id = owner
    created = upload(client, headers, b"x", session_id=session_id).get_json()
    store.delete(db.get(Artifact, uuid.UUID(created["id"])).storage_key)
    assert_error(client.get(f"/artifacts/{created['id']}/content", headers=headers), 404)
    assert client.delete(f"/artifacts/{created['id']}", headers=headers).status_code == 204


def test_a_failed_object_delete_keeps_the_row(client, db, owner, store, monkeypatch):
    _, headers, session_id = owner
    created = upload(client, headers, b"x", session_id=session_id).get_json()

    def unavailable(key: str) -> None:
        raise StoreUnavailable("cloud storage is unavailable (ServiceUnavailable)")

    monkeypatch.setattr(store, "delete", unavailable)
    response = client.delete(f"/artifacts/{created['id']}", headers=headers)
    assert_error(response, 503, "unavailable")
    assert response.headers["Retry-After"] == "5"
    monkeypatch.undo()
    assert client.get(f"/artifacts/{created['id']}", headers=headers).status_code == 200
    assert client.get(f"/artifacts/{created['id']}/content", headers=headers).data == b"x"


def test_the_default_store_is_a_directory_under_the_data_dir(tmp_path, owner):
    from core.devserver import local_app

    _, headers, session_id = owner
    client = local_app(docs=False).test_client()  # given no store: the process's own
    with settings_env(DATA_DIR=str(tmp_path / "data")):
        created = upload(client, headers, b"on disk", session_id=session_id).get_json()
        stored = list((tmp_path / "data" / "artifacts").rglob("*.txt"))
        assert [p.read_bytes() for p in stored] == [b"on disk"]
        content = client.get(f"/artifacts/{created['id']}/content", headers=headers)
        assert content.data == b"on disk"


def test_the_upload_body_is_documented_as_multipart(client):
    document = client.get("/openapi.json").get_json()
    body = document["paths"]["/artifacts"]["post"]["requestBody"]["content"]
    schema = body["multipart/form-data"]["schema"]
    assert schema["properties"]["file"]["format"] == "binary"
    assert set(schema["required"]) == {"file", "session_id"}
    assert "execution_id" in schema["properties"]
    assert "413" in document["paths"]["/artifacts"]["post"]["responses"]
    content = document["paths"]["/artifacts/{artifact_id}/content"]["get"]["responses"]
    assert {"200", "302", "404"} <= set(content)
