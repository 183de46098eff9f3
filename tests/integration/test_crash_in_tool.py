"""The crash matrix, inside the tool: a worker process SIGKILLs itself after a tool ran (its side
effect happened) and before its result was saved; a second delivery resumes the run. For each
kind of tool: how many times the side effect happened, and what the model was told.

| tool | side effects | the model is told |
| --- | --- | --- |
| built-in read (file_read) | 2: run again, it only reads | the file |
| built-in write (file_write) | 1 | the call was interrupted, may or may not have taken effect |
| MCP read-only (readOnlyHint) | 2: run again | its answer |
| MCP plain | 1 | interrupted, as above |
| remote A2A agent | 1 | interrupted, as above |
| approval-required | 1, or 2 once approved again (asked again) | its result or the denial |

And the same call with its lease lost while the tool runs (a heartbeat that cannot reach the
database): the second delivery does not run it again while the first still does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.config import get_settings, reset_settings
from core.models.executions import ToolCallRecord
from core.runs.backends import Backends
from core.runs.tool_journal import INTERRUPTED
from tests.integration.test_crash_matrix import (
    ROOT,
    approve_pending,
    kill_worker_at,
    queued_run,
    recorded,
)
from tests.support import crash_worker
from tests.support.a2a_remote import A2aRemote
from tests.support.mcp_server import McpServer, serving
from tests.support.report import report

MODEL = {"provider": "test", "name": "test"}


@pytest.fixture(scope="module")
def mcp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpServer]:
    with serving(tmp_path_factory.mktemp("mcp-crash"), {}) as server:
        yield server


@pytest.fixture
def crash_env(engine: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from core.tools.registry import TOOL_SPECS

    counter = tmp_path / "counter"
    monkeypatch.setenv("CRASH_COUNTER_FILE", str(counter))
    monkeypatch.setenv("MCP_ALLOWED_HOSTS", "127.0.0.1")
    monkeypatch.setenv("WORKSPACE_DIR", str(tmp_path / "workspaces"))
    reset_settings()
    monkeypatch.setitem(TOOL_SPECS, "count", crash_worker.count_tool())
    from core.tools import file_tools

    for name in ("make_file_read", "make_file_write"):
        monkeypatch.setattr(file_tools, name, getattr(file_tools, name))  # restored after
    crash_worker.count_file_tools()
    yield counter
    reset_settings()


def matrix_row(kind: str, times: int, answer: str) -> None:
    report(
        "crash matrix, killed inside the tool",
        f"{kind}: side effect {times}x; the model was told {answer[:80]!r}",
    )


def plan(monkeypatch: pytest.MonkeyPatch, tool: str, args: dict[str, Any]) -> None:
    monkeypatch.setenv("CRASH_TOOL_CALL", json.dumps({"tool": tool, "args": args}))


def deliver(execution_id: uuid.UUID) -> Any:
    from core.services.worker import deliver_execution

    backends = Backends(get_settings(), model=crash_worker.one_call_model())
    return deliver_execution(execution_id, backends)


def counted(counter: Path, label: str) -> int:
    return counter.read_text().split().count(label) if counter.exists() else 0


def told(execution_id: uuid.UUID) -> str:
    execution, _ = recorded(execution_id)
    assert execution.status.value == "succeeded", (execution.status, execution.error)
    return str(execution.output).removeprefix("told: ")


def crash_then_resume(execution_id: uuid.UUID) -> str:
    kill_worker_at(execution_id, "in_tool:call-x")
    crashed, _ = recorded(execution_id)
    assert crashed.status.value == "running"
    assert deliver(execution_id).status == "succeeded"
    return told(execution_id)


def workspace_of(execution_id: uuid.UUID) -> Path:
    from core.storage.workspace import local_directory

    return Path(local_directory(get_settings(), session_id=None, execution_id=execution_id))


def test_a_built_in_read_tool_runs_again(crash_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan(monkeypatch, "file_read", {"path": "notes.txt"})
    execution_id = queued_run(None, {"model": MODEL, "tools": [{"name": "file_read"}]})
    workspace = workspace_of(execution_id)
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "notes.txt").write_text("the notes")
    answer = crash_then_resume(execution_id)
    assert counted(crash_env, "read") == 2
    assert "the notes" in answer
    matrix_row("built-in read (file_read)", counted(crash_env, "read"), answer)


def test_a_built_in_write_tool_is_not_run_again(
    crash_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan(monkeypatch, "file_write", {"path": "out.txt", "content": "hello"})
    execution_id = queued_run(None, {"model": MODEL, "tools": [{"name": "file_write"}]})
    answer = crash_then_resume(execution_id)
    assert counted(crash_env, "write") == 1
    assert answer == INTERRUPTED
    assert (workspace_of(execution_id) / "out.txt").read_text() == "hello"
    matrix_row("built-in write (file_write)", counted(crash_env, "write"), answer)


def mcp_definition(mcp: McpServer) -> dict[str, Any]:
    return {"model": MODEL, "mcp_servers": [{"name": "svc", "url": mcp.url}]}


def test_a_read_only_mcp_tool_runs_again(
    crash_env: Path, monkeypatch: pytest.MonkeyPatch, mcp: McpServer
) -> None:
    key = uuid.uuid4().hex
    plan(monkeypatch, "svc_lookup", {"key": key})
    execution_id = queued_run(None, mcp_definition(mcp))
    answer = crash_then_resume(execution_id)
    runs = [c for c in mcp.calls("lookup") if c["args"]["key"] == key]
    assert len(runs) == 2
    assert answer == f"value of {key}"
    matrix_row("MCP read-only (readOnlyHint)", len(runs), answer)


def test_a_plain_mcp_tool_is_not_run_again(
    crash_env: Path, monkeypatch: pytest.MonkeyPatch, mcp: McpServer
) -> None:
    text = uuid.uuid4().hex
    plan(monkeypatch, "svc_note", {"text": text})
    execution_id = queued_run(None, mcp_definition(mcp))
    answer = crash_then_resume(execution_id)
    runs = [c for c in mcp.calls("note") if c["args"]["text"] == text]
    assert len(runs) == 1
    assert answer == INTERRUPTED
    matrix_row("MCP plain", len(runs), answer)


def test_a_remote_a2a_agent_is_not_asked_again(
    crash_env: Path, monkeypatch: pytest.MonkeyPatch, a2a_remote: A2aRemote
) -> None:
    monkeypatch.setenv("A2A_ALLOWED_HOSTS", "127.0.0.1")
    reset_settings()
    text = uuid.uuid4().hex
    plan(monkeypatch, "helper", {"message": text})
    helper = {"name": "helper", "card_url": a2a_remote.card_url}
    execution_id = queued_run(None, {"model": MODEL, "a2a_agents": [helper]})
    answer = crash_then_resume(execution_id)
    sent = [m for m in a2a_remote.messages() if m["text"] == text]
    assert len(sent) == 1
    assert answer == INTERRUPTED
    matrix_row("remote A2A agent", len(sent), answer)


APPROVED = {"model": MODEL, "tools": [{"name": "count", "requires_approval": True}]}


def interrupted_after_approval(monkeypatch: pytest.MonkeyPatch) -> uuid.UUID:
    """Approved, then killed inside the tool: the redelivery asks the approver again."""
    plan(monkeypatch, "count", {"label": "a"})
    execution_id = queued_run(None, APPROVED)
    assert deliver(execution_id).status == "waiting_approval"
    approve_pending(execution_id)
    kill_worker_at(execution_id, "in_tool:call-x")
    assert deliver(execution_id).status == "waiting_approval"
    execution, events = recorded(execution_id)
    [pending] = execution.pending_approvals or []
    assert pending["tool_call_id"] == "call-x"
    assert "may or may not have taken effect" in pending["note"]
    asked = [e.payload for e in events if e.type == "approval_requested"]
    assert len(asked) == 2
    assert "note" in asked[-1]
    return execution_id


def test_an_approved_call_interrupted_is_asked_again_and_runs_once_more_if_approved(
    crash_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    execution_id = interrupted_after_approval(monkeypatch)
    assert counted(crash_env, "a") == 1
    approve_pending(execution_id)
    assert deliver(execution_id).status == "succeeded"
    answer = told(execution_id)
    assert counted(crash_env, "a") == 2
    assert answer == "counted a"
    matrix_row("approval-required, approved again", counted(crash_env, "a"), answer)


def test_an_approved_call_interrupted_and_then_denied_is_not_run_again(
    crash_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.db import transaction
    from core.models.executions import AgentExecution
    from core.models.users import User
    from core.runs.approvals.deciding import decide_approvals
    from core.schemas.executions import ApprovalsRequest
    from tests.support.queues import RecordingQueue

    execution_id = interrupted_after_approval(monkeypatch)
    with transaction() as db:
        execution = db.get(AgentExecution, execution_id)
        assert execution is not None
        user = db.get(User, execution.user_id)
        assert user is not None
        decide_approvals(
            db,
            user=user,
            execution_id=execution_id,
            data=ApprovalsRequest.model_validate(
                {"decisions": [{"tool_call_id": "call-x", "approved": False, "reason": "no"}]}
            ),
            backends=Backends(get_settings(), queue=RecordingQueue()),
        )
    assert deliver(execution_id).status == "succeeded"
    answer = told(execution_id)
    assert counted(crash_env, "a") == 1
    assert answer.startswith("A person denied this call")
    matrix_row("approval-required, then denied", counted(crash_env, "a"), answer)


def test_a_lease_lost_while_a_tool_runs_does_not_run_it_twice(
    crash_env: Path, monkeypatch: pytest.MonkeyPatch, mcp: McpServer
) -> None:
    """Worker A (a real process) calls a slow plain MCP tool and cannot extend its lease; its
    lease runs out while the tool runs and worker B (this process) takes the run over. B does
    not call the tool again; A's late result is not recorded over B's answer."""
    from core.db import transaction
    from core.models.executions import AgentExecution

    monkeypatch.setenv("EXECUTION_LEASE_S", "5")
    reset_settings()
    plan(monkeypatch, "svc_slow", {"seconds": 9})
    execution_id = queued_run(None, mcp_definition(mcp))
    before = len(mcp.calls("slow"))
    worker_a = subprocess.Popen(
        [sys.executable, "-m", "tests.support.crash_worker", str(execution_id), "no_heartbeat"],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while len(mcp.calls("slow")) == before:  # A's call has reached the server
            assert time.monotonic() < deadline
            assert worker_a.poll() is None, worker_a.communicate()[0]
            time.sleep(0.05)
        # A's lease (5 s from its last write) runs out while its tool still runs (9 s): wait
        # for the lease the database holds, not a fixed time a loaded machine may outrun
        while True:
            with transaction() as db:
                expires = db.scalar(
                    select(AgentExecution.lease_expires_at).where(AgentExecution.id == execution_id)
                )
            left = (expires - datetime.now(UTC)).total_seconds() if expires else 0.0
            if left < -0.1:
                break
            assert time.monotonic() < deadline + 15
            time.sleep(min(max(left + 0.15, 0.05), 1.0))
        assert deliver(execution_id).status == "succeeded"
        assert told(execution_id) == INTERRUPTED
        out, _ = worker_a.communicate(timeout=60)
    finally:
        if worker_a.poll() is None:
            worker_a.kill()
            worker_a.communicate()
    assert len(mcp.calls("slow")) - before == 1, out
    assert "finished without crashing" in out  # A gave the run up when it found B had it
    with transaction() as db:
        execution = db.get(AgentExecution, execution_id)
        assert execution is not None
        assert (execution.status.value, execution.attempt) == ("succeeded", 2)
        [record] = db.scalars(
            select(ToolCallRecord).where(ToolCallRecord.execution_id == execution_id)
        ).all()
        assert (record.state.value, record.attempt) == ("finished", 2)
        assert record.outcome == {"kind": "interrupted", "content": INTERRUPTED}
