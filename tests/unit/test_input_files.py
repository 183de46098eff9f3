"""How content parts become the model's prompt: text in order, files as bytes, or as gs:// URIs
when they are in a GCS bucket and every model of the agent is Gemini on Vertex."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

from pydantic_ai.messages import BinaryContent, DocumentUrl, ImageUrl

from core.definition import AgentDefinition
from core.runs.input_files import InputFile, model_media_type
from core.runs.prompts import user_prompt

IMAGE = InputFile(uuid.uuid4(), "cat.png", "image/png", 4, "artifacts/u/1/cat.png")
PDF = InputFile(uuid.uuid4(), "a.pdf", "application/pdf", 5, "artifacts/u/2/a.pdf")
NOTES = InputFile(uuid.uuid4(), "n.md", "text/markdown", 2, "artifacts/u/3/n.md")
BYTES = {IMAGE.storage_key: b"\x89PNG", PDF.storage_key: b"%PDF-", NOTES.storage_key: b"hi"}


class Files:
    def input_files(self, user_id: uuid.UUID, ids: list[uuid.UUID]) -> list[InputFile]:
        files = {f.id: f for f in (IMAGE, PDF, NOTES)}
        return [files[i] for i in ids if i in files]


class Bucket:
    def __init__(self, name: str | None) -> None:
        if name:
            self.bucket_name = name

    def read(self, key: str, *, max_bytes: int, offset: int = 0) -> tuple[bytes, int]:
        return BYTES[key], len(BYTES[key])


def backends(bucket: str | None) -> Any:
    return SimpleNamespace(store=Files(), artifacts=Bucket(bucket))


def agent(provider: str, *fallbacks: str) -> AgentDefinition:
    names = {"google-vertex": "gemini-2.5-flash", "anthropic-vertex": "claude-haiku-4-5"}
    return AgentDefinition.model_validate(
        {
            "model": {
                "provider": provider,
                "name": names[provider],
                "fallback": [{"provider": p, "name": names[p]} for p in fallbacks],
            },
            "system_prompt": "x",
        }
    )


PARTS = [
    {"type": "text", "text": "look"},
    {"type": "artifact", "artifact_id": str(IMAGE.id)},
    {"type": "artifact", "artifact_id": str(PDF.id)},
    {"type": "artifact", "artifact_id": str(NOTES.id)},
]


def test_gemini_reads_files_in_the_bucket_by_gs_uri_except_text() -> None:
    prompt = user_prompt(PARTS, backends("my-bucket"), uuid.uuid4(), agent("google-vertex"))
    words, image, pdf, notes = prompt
    assert words == "look"
    assert isinstance(image, ImageUrl)
    assert image.url == f"gs://my-bucket/{IMAGE.storage_key}"
    assert isinstance(pdf, DocumentUrl)
    assert pdf.media_type == "application/pdf"
    assert isinstance(notes, BinaryContent)
    assert (notes.media_type, notes.data) == ("text/plain", b"hi")


def test_claude_anywhere_in_the_chain_gets_bytes() -> None:
    definition = agent("google-vertex", "anthropic-vertex")
    prompt = user_prompt(PARTS, backends("my-bucket"), uuid.uuid4(), definition)
    assert all(isinstance(item, str | BinaryContent) for item in prompt)
    assert [item.data for item in prompt[1:]] == [b"\x89PNG", b"%PDF-", b"hi"]  # type: ignore[union-attr]


def test_local_storage_sends_bytes_and_text_stays_text() -> None:
    prompt = user_prompt(PARTS, backends(None), uuid.uuid4(), agent("google-vertex"))
    assert isinstance(prompt[1], BinaryContent)
    assert user_prompt("plain", backends(None), uuid.uuid4(), agent("google-vertex")) == "plain"
    assert user_prompt({"a": 1}, backends(None), uuid.uuid4(), agent("google-vertex")) == '{"a": 1}'


def test_a_file_deleted_after_the_start_is_named_not_fatal() -> None:
    gone = [{"type": "artifact", "artifact_id": str(uuid.uuid4())}]
    [note] = user_prompt(gone, backends(None), uuid.uuid4(), agent("google-vertex"))
    assert "no longer available" in str(note)


def test_which_types_a_model_reads() -> None:
    assert model_media_type("image/webp") == "image/webp"
    assert model_media_type("text/csv; charset=utf-8") == "text/plain"
    assert model_media_type("application/json") == "text/plain"
    assert model_media_type("application/zip") is None
    assert model_media_type("image/svg+xml") is None
