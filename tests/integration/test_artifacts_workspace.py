"""Files written by runs become artifacts of their execution and session, once per content."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from pydantic_ai.messages import (
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)

from core.artifacts import MAX_RECORDED_FILES, record_workspace_files, written_paths
from core.clock import utcnow
from core.config import get_settings
from core.models.executions import AgentExecution
from core.models.sessions import Artifact
from core.storage.local_workspace import LocalWorkspace
from core.storage.store import LocalArtifactStore
from core.storage.workspace import workspace_for
from tests.integration.test_artifacts_api import new_execution, new_session, settings_env
from tests.integration.test_execution_runs import call, scripted, text
from tests.support.agents import create_agent, definition, execute, tools
from tests.support.api import signed_up
from tests.support.backends import answering


@pytest.fixture
def owner(client, db):
    user, headers = signed_up(client)
    session_id = new_session(db, client, headers, user)
    return user, headers, session_id, new_execution(db, user, session_id)


@pytest.fixture
def artifact_store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def store(artifact_store: LocalArtifactStore) -> LocalArtifactStore:
    return artifact_store


def _record(db, store, user, session_id, execution_id, workspace, paths=None):
    return record_workspace_files(
        db,
        now=utcnow(),
        store=store,
        settings=get_settings(),
        user_id=uuid.UUID(user["id"]),
        session_id=uuid.UUID(session_id) if session_id else None,
        execution_id=uuid.UUID(execution_id),
        workspace=workspace,
        paths=paths,
    )


def test_written_files_become_artifacts_once_and_changes_become_new_ones(
    db, owner, store, tmp_path
):
    user, _, session_id, execution_id = owner
    ws = LocalWorkspace(tmp_path / "ws", name="workspace", writable=True)
    ws.write("report.md", b"# v1")
    ws.write("data/table.csv", b"a,b\n1,2\n")

    first = _record(db, store, user, session_id, execution_id, ws)
    assert sorted((a.name, a.content_type) for a in first) == [
        ("data/table.csv", "text/csv"),
        ("report.md", "text/markdown"),
    ]
    assert {a.execution_id for a in first} == {uuid.UUID(execution_id)}
    assert {a.session_id for a in first} == {uuid.UUID(session_id)}
    for artifact in first:
        assert b"".join(store.open(artifact.storage_key)) == ws.read(artifact.name, max_bytes=99)[0]

    assert _record(db, store, user, session_id, execution_id, ws) == []  # idempotent

    # the next run of the session changes one file: only that one is recorded, for that run
    later_run = new_execution(db, user, session_id)
    ws.write("report.md", b"# v2")
    second = _record(db, store, user, session_id, later_run, ws)
    assert [(a.name, a.execution_id) for a in second] == [("report.md", uuid.UUID(later_run))]
    # the first version is still there, with its own bytes
    v1 = next(a for a in first if a.name == "report.md")
    assert b"".join(store.open(v1.storage_key)) == b"# v1"
    assert db.query(Artifact).filter(Artifact.session_id == uuid.UUID(session_id)).count() == 3


def test_paths_limit_the_scan_and_missing_or_bad_paths_are_skipped(db, owner, store, tmp_path):
    user, _, session_id, execution_id = owner
    ws = LocalWorkspace(tmp_path / "ws", name="workspace", writable=True)
    ws.write("written.txt", b"w")
    ws.write("untouched.txt", b"u")
    created = _record(
        db,
        store,
        user,
        session_id,
        execution_id,
        ws,
        paths=["written.txt", "./written.txt", "never-written.txt", "../escape", ""],
    )
    assert [a.name for a in created] == ["written.txt"]


def test_files_over_the_artifact_limit_are_not_recorded(db, owner, store, tmp_path):
    user, _, session_id, execution_id = owner
    ws = LocalWorkspace(tmp_path / "ws", name="workspace", writable=True)
    ws.write("small.txt", b"s")
    ws.write("big.bin", b"b" * 3000)
    with settings_env(ARTIFACT_MAX_BYTES="2048"):
        created = _record(db, store, user, session_id, execution_id, ws)
    assert [a.name for a in created] == ["small.txt"]


def test_a_run_without_a_session_scopes_its_files_to_the_run(db, client, store, tmp_path):
    user, headers = signed_up(client)
    agent = create_agent(client, headers)
    runs = []
    for _ in range(2):
        execution = AgentExecution(
            agent_id=uuid.UUID(agent["id"]), agent_version="1.0.0", user_id=uuid.UUID(user["id"])
        )
        db.add(execution)
        db.flush()
        runs.append(str(execution.id))
    ws = LocalWorkspace(tmp_path / "ws", name="workspace", writable=True)
    ws.write("out.txt", b"same bytes")
    assert len(_record(db, store, user, None, runs[0], ws)) == 1
    assert len(_record(db, store, user, None, runs[0], ws)) == 0
    # another session-less run writing identical bytes still gets its own artifact
    created = _record(db, store, user, None, runs[1], ws)
    assert [(a.session_id, a.execution_id) for a in created] == [(None, uuid.UUID(runs[1]))]


def test_recording_is_bounded(db, owner, store, tmp_path):
    user, _, session_id, execution_id = owner
    ws = LocalWorkspace(tmp_path / "ws", name="workspace", writable=True)
    for i in range(MAX_RECORDED_FILES + 5):
        ws.write(f"f{i:04}.txt", b"x")
    assert len(_record(db, store, user, session_id, execution_id, ws)) == MAX_RECORDED_FILES


def test_concurrent_recorders_of_one_session_add_each_file_once(engine, store, tmp_path):
    """Two deliveries of the same run finishing together (separate transactions)."""
    from sqlalchemy.orm import Session

    from core.models.agents import Agent
    from core.models.sessions import AgentSession
    from core.models.users import User
    from tests.support.rows import session_row

    with Session(engine) as setup:
        session = session_row(setup)
        execution = AgentExecution(
            agent_id=session.agent_id,
            agent_version="1.0.0",
            user_id=session.user_id,
            session_id=session.id,
        )
        setup.add(execution)
        setup.commit()
        ids = (session.user_id, session.id, execution.id, session.agent_id)
    ws = LocalWorkspace(tmp_path / "ws", name="workspace", writable=True)
    ws.write("a.txt", b"a")
    ws.write("b.txt", b"b")
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def deliver() -> None:
        with Session(engine) as db:
            barrier.wait()
            created = record_workspace_files(
                db,
                now=utcnow(),
                store=store,
                settings=get_settings(),
                user_id=ids[0],
                session_id=ids[1],
                execution_id=ids[2],
                workspace=ws,
            )
            db.commit()
            counts.append(len(created))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert sorted(counts) == [0, 2]
    finally:
        with Session(engine) as cleanup:
            for model, key in [(AgentSession, ids[1])]:
                cleanup.delete(cleanup.get(model, key))
            cleanup.flush()
            cleanup.delete(cleanup.get(AgentExecution, ids[2]))
            cleanup.delete(cleanup.get(Agent, ids[3]))
            cleanup.delete(cleanup.get(User, ids[0]))
            cleanup.commit()


def test_written_paths_come_from_the_runs_file_write_calls():
    messages = [
        ModelRequest.user_text_prompt("go"),
        ModelResponse(
            parts=[
                ToolCallPart("file_write", {"path": "./notes/a.md", "content": "x"}, "c1"),
                ToolCallPart("file_read", {"path": "other.txt"}, "c2"),
                ToolCallPart("file_write", '{"path": "b.txt", "content": "y"}', "c3"),
                ToolCallPart("file_write", "not json", "c4"),
                ToolCallPart("file_write", {"path": "../escape", "content": "z"}, "c5"),
            ]
        ),
        ModelRequest(parts=[ToolReturnPart("file_write", "wrote", tool_call_id="c1")]),
        ModelResponse(parts=[ToolCallPart("file_write", {"path": "notes/a.md"}, "c6")]),
        ModelResponse(parts=[TextPart("done")]),
    ]
    assert written_paths(messages) == ["notes/a.md", "b.txt"]


def test_a_real_runs_file_writes_become_downloadable_artifacts_of_the_run(
    client, db, artifact_store, tmp_path
):
    """The runner records what file_write wrote (and only inside the workspace) as artifacts of
    the run, without being asked; recording again adds nothing."""
    store = artifact_store
    _, headers = signed_up(client)
    model = scripted(
        call("file_write", {"path": "out/summary.md", "content": "# Summary\nall good\n"}, "w1"),
        call("file_write", {"path": "../outside.txt", "content": "nope"}, "w2"),
        text("done"),
    )
    with settings_env(WORKSPACE_DIR=str(tmp_path / "workspaces")) as settings:
        agent = create_agent(client, headers, definition=definition(tools=tools("file_write")))
        with answering(client, model):
            execution = execute(client, headers, agent["id"]).get_json()
        assert execution["status"] == "succeeded", execution
        row = db.get(AgentExecution, uuid.UUID(execution["id"]))
        paths = written_paths(ModelMessagesTypeAdapter.validate_python(row.messages))
        assert paths == ["out/summary.md"]
        again = record_workspace_files(
            db,
            now=utcnow(),
            store=store,
            settings=settings,
            user_id=row.user_id,
            session_id=None,
            execution_id=row.id,
            workspace=workspace_for(settings, store, session_id=None, execution_id=row.id),
            paths=paths,
        )
        assert again == []
    page = client.get(
        "/artifacts", headers=headers, query_string={"execution_id": execution["id"]}
    ).get_json()
    assert [a["name"] for a in page["items"]] == ["out/summary.md"]
    content = client.get(page["items"][0]["content_url"], headers=headers)
    assert content.data == b"# Summary\nall good\n"
    assert content.headers["Content-Disposition"].startswith('attachment; filename="summary.md"')
