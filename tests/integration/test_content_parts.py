"""Content parts: a message (or an execute's input) as text and files the caller uploaded.
Images, PDFs and text files reach the model as file parts; uploads to a session are in its
workspace for the file tools; limits answer 413/415/422 and another user's file 404, before
anything is written."""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import (
    BinaryContent,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy import func, select

from core.models.executions import AgentExecution
from core.storage.store import LocalArtifactStore
from tests.integration.test_artifacts_api import settings_env, upload
from tests.support.agents import create_agent, definition, tools
from tests.support.api import assert_error, signed_up
from tests.support.backends import answering


def png_pixel(rgb: tuple[int, int, int] = (255, 0, 0)) -> bytes:
    """A real 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + bytes(rgb))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.fixture(autouse=True)
def artifact_store(tmp_path: Path) -> Iterator[LocalArtifactStore]:
    with settings_env(WORKSPACE_DIR=str(tmp_path / "workspaces")):
        yield LocalArtifactStore(tmp_path / "artifacts")


def session_of(client: Any, headers: dict[str, str], **agent: Any) -> dict[str, Any]:
    made = create_agent(client, headers, **agent)
    response = client.post("/sessions", headers=headers, json={"agent_id": made["id"]})
    assert response.status_code == 201
    return dict(response.get_json())


def user_content(messages: list[ModelMessage]) -> list[Any]:
    first = messages[0]
    assert isinstance(first, ModelRequest)
    part = next(p for p in first.parts if isinstance(p, UserPromptPart))
    return list(part.content) if not isinstance(part.content, str) else [part.content]


def test_a_png_uploaded_to_a_session_reaches_the_model_as_an_image(client):
    _, headers = signed_up(client)
    session = session_of(client, headers)
    pixel = png_pixel()
    uploaded = upload(
        client, headers, pixel, filename="pixel.png", content_type="image/png",
        session_id=session["id"],
    )  # fmt: skip
    assert uploaded.status_code == 201, uploaded.get_json()
    seen: list[Any] = []

    def describe(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        content = user_content(messages)
        seen.extend(content)
        [image] = [item for item in content if isinstance(item, BinaryContent)]
        assert image.data == pixel
        assert image.media_type == "image/png"
        assert image.is_image
        return ModelResponse(parts=[TextPart("a single red pixel")])

    with answering(client, FunctionModel(describe)):
        response = client.post(
            f"/sessions/{session['id']}/messages",
            headers=headers,
            json={
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "artifact", "artifact_id": uploaded.get_json()["id"]},
                ]
            },
        )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "succeeded", response.get_json()
    assert response.get_json()["output"] == "a single red pixel"
    assert seen[0] == "What is in this picture?"
    # the next turn's history still carries the picture
    replayed: list[Any] = []

    def again(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        replayed.extend(user_content(messages))
        return ModelResponse(parts=[TextPart("still red")])

    with answering(client, FunctionModel(again)):
        client.post(
            f"/sessions/{session['id']}/messages", headers=headers, json={"content": "and now?"}
        )
    assert any(isinstance(item, BinaryContent) and item.data == pixel for item in replayed)


def test_an_upload_is_in_the_session_workspace_for_the_file_tools(client):
    _, headers = signed_up(client)
    session = session_of(client, headers, definition=definition(tools=tools("file_read")))
    uploaded = upload(client, headers, b"the launch is on Friday", session_id=session["id"])
    assert uploaded.status_code == 201

    def read_it(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        results = [p for m in messages for p in m.parts if isinstance(p, ToolReturnPart)]
        if not results:
            return ModelResponse(
                parts=[ToolCallPart("file_read", {"path": "uploads/notes.txt"}, tool_call_id="r")]
            )
        return ModelResponse(parts=[TextPart(str(results[0].content))])

    with answering(client, FunctionModel(read_it)):
        response = client.post(
            f"/sessions/{session['id']}/messages",
            headers=headers,
            json={"content": "what does my file say?"},
        )
    assert response.get_json()["status"] == "succeeded", response.get_json()
    assert "the launch is on Friday" in response.get_json()["output"]


def test_execute_takes_text_files_and_pdfs_as_documents(client):
    _, headers = signed_up(client)
    session = session_of(client, headers)
    text = upload(client, headers, b"a,b\n1,2\n", filename="t.csv", content_type="text/csv",
                  session_id=session["id"]).get_json()  # fmt: skip
    pdf = upload(client, headers, b"%PDF-1.4\n%minimal\n", filename="doc.pdf",
                 content_type="application/pdf", session_id=session["id"]).get_json()  # fmt: skip
    agent = create_agent(client, headers)
    received: list[Any] = []

    def look(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        received.extend(user_content(messages))
        return ModelResponse(parts=[TextPart("ok")])

    with answering(client, FunctionModel(look)):
        response = client.post(
            f"/agents/{agent['id']}/execute",
            headers=headers,
            json={"input": [
                {"type": "artifact", "artifact_id": text["id"]},
                {"type": "artifact", "artifact_id": pdf["id"]},
                {"type": "text", "text": "compare"},
            ]},
        )  # fmt: skip
    assert response.get_json()["status"] == "succeeded", response.get_json()
    csv, document, words = received
    assert (csv.media_type, csv.data) == ("text/plain", b"a,b\n1,2\n")
    assert (document.media_type, document.is_document) == ("application/pdf", True)
    assert words == "compare"
    # the input is kept as sent
    assert response.get_json()["input"][2] == {"type": "text", "text": "compare"}


def runs_of(db: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(AgentExecution)))


def test_another_users_file_is_a_404_and_nothing_starts(client, db):
    _, owner = signed_up(client)
    session = session_of(client, owner)
    theirs = upload(client, owner, b"private", session_id=session["id"]).get_json()
    _, stranger = signed_up(client)
    agent = create_agent(client, stranger)
    before = runs_of(db)
    for artifact_id in (theirs["id"], str(uuid.uuid4())):
        response = client.post(
            f"/agents/{agent['id']}/execute",
            headers=stranger,
            json={"input": [{"type": "artifact", "artifact_id": artifact_id}]},
        )
        assert_error(response, 404, "artifact_not_found")
    assert runs_of(db) == before


def test_a_file_no_model_reads_is_a_415(client):
    _, headers = signed_up(client)
    session = session_of(client, headers)
    zipped = b"PK\x03\x04" + bytes(100)
    archive = upload(
        client, headers, zipped, filename="a.zip", content_type="application/zip",
        session_id=session["id"],
    ).get_json()  # fmt: skip
    response = client.post(
        f"/sessions/{session['id']}/messages",
        headers=headers,
        json={"content": [{"type": "artifact", "artifact_id": archive["id"]}]},
    )
    assert_error(response, 415, "unsupported_file_type")


def test_files_over_the_input_limit_are_a_413(client):
    _, headers = signed_up(client)
    session = session_of(client, headers)
    ids = [
        upload(
            client, headers, b"x" * 800, filename=f"{n}.txt", session_id=session["id"]
        ).get_json()["id"]
        for n in range(2)
    ]
    with settings_env(INPUT_FILES_MAX_BYTES="1024"):
        response = client.post(
            f"/sessions/{session['id']}/messages",
            headers=headers,
            json={"content": [{"type": "artifact", "artifact_id": i} for i in ids]},
        )
    assert_error(response, 413, "input_files_too_large")


@pytest.mark.parametrize(
    "content",
    [
        [],
        [{"type": "image", "url": "http://example.com/x.png"}],
        [{"type": "artifact", "artifact_id": "not-a-uuid"}],
        [{"type": "text"}],
        [{"type": "text", "text": "hi", "extra": 1}],
        ["just a string"],
        [{"type": "text", "text": "x"}] * 33,
    ],
)
def test_malformed_parts_are_a_422(client, content):
    _, headers = signed_up(client)
    session = session_of(client, headers)
    response = client.post(
        f"/sessions/{session['id']}/messages", headers=headers, json={"content": content}
    )
    body = assert_error(response, 422)
    assert "content" in str(body)
