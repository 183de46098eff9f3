"""Knowledge bases through the API: made, renamed and deleted by their owner only (another
user's is a 404 on every route); documents from text, an upload (Markdown, HTML, PDF) or an
artifact, ingested by the worker route the queue delivers (duplicate deliveries harmless), with
their status and the reason they failed; the same content once; quotas; hybrid, vector and text
queries; an agent's knowledge_search tool and what its tool_result records."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from sqlalchemy import func, select
from sqlalchemy import text as sa_text

from core.config import reset_settings
from core.models.knowledge import KnowledgeChunk, KnowledgeDocument
from tests.support.agents import create_agent, events_of, execute
from tests.support.api import assert_error, signed_up
from tests.support.backends import answering
from tests.support.documents import pdf_with_pages
from tests.support.report import report

REFUNDS = (
    "Refund policy. Refunds are paid within 14 days of the return reaching our warehouse. "
    "The money goes back to the card the order was paid with."
)
SHIPPING = (
    "Shipping. Parcels leave the warehouse every weekday at noon. Deliveries abroad take "
    "five to eight working days, and tracking numbers arrive by email."
)


def make_kb(client: Any, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(
        "/knowledge-bases", headers=headers, json={"name": f"kb-{uuid.uuid4().hex[:8]}"} | body
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def add_text(client: Any, headers: dict[str, str], kb_id: str, title: str, text: str) -> Any:
    return client.post(
        f"/knowledge-bases/{kb_id}/documents", headers=headers, json={"title": title, "text": text}
    )


def deliver_all(client: Any, queue: Any, worker_headers: dict[str, str]) -> list[dict[str, Any]]:
    """Deliver every ingestion task enqueued so far, as the queue would."""
    answers = []
    while queue.tasks:
        task = queue.tasks.pop(0)
        assert task.path.startswith("/tasks/ingest/"), task.path
        response = client.post(task.path, headers=worker_headers, json=task.payload)
        assert response.status_code == 200, response.get_json()
        answers.append(response.get_json())
    return answers


def document(client: Any, headers: dict[str, str], kb_id: str, doc_id: str) -> dict[str, Any]:
    response = client.get(f"/knowledge-bases/{kb_id}/documents/{doc_id}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def query(client: Any, headers: dict[str, str], kb_id: str, text: str, **body: Any) -> Any:
    return client.post(
        f"/knowledge-bases/{kb_id}/query", headers=headers, json={"query": text} | body
    )


@pytest.fixture
def owner(client: Any) -> dict[str, str]:
    return signed_up(client)[1]


def test_a_knowledge_base_is_made_listed_renamed_and_deleted_by_its_owner(
    client: Any, owner: dict[str, str]
) -> None:
    kb = make_kb(client, owner, name="handbook", description="the team handbook")
    assert kb["embedding"] == {"provider": "test", "model": "hashed-ngrams", "dimensions": 1536}
    assert (kb["documents"], kb["chunks"]) == (0, 0)
    assert_error(
        client.post("/knowledge-bases", headers=owner, json={"name": "handbook"}),
        409,
        "knowledge_base_exists",
    )
    listed = client.get("/knowledge-bases", headers=owner).get_json()["items"]
    assert [item["id"] for item in listed] == [kb["id"]]
    renamed = client.patch(
        f"/knowledge-bases/{kb['id']}", headers=owner, json={"name": "handbook-2"}
    ).get_json()
    assert renamed["name"] == "handbook-2"
    assert client.delete(f"/knowledge-bases/{kb['id']}", headers=owner).status_code == 204
    assert_error(client.get(f"/knowledge-bases/{kb['id']}", headers=owner), 404)


def test_another_users_knowledge_base_is_a_404_on_every_route(
    client: Any, owner: dict[str, str], queue: Any, worker_headers: dict[str, str]
) -> None:
    kb = make_kb(client, owner)
    doc = add_text(client, owner, kb["id"], "Refunds", REFUNDS).get_json()
    deliver_all(client, queue, worker_headers)
    stranger = signed_up(client)[1]
    base = f"/knowledge-bases/{kb['id']}"
    calls = [
        ("GET", base, None),
        ("PATCH", base, {"name": "mine-now"}),
        ("DELETE", base, None),
        ("GET", f"{base}/documents", None),
        ("POST", f"{base}/documents", {"title": "x", "text": "hello"}),
        ("GET", f"{base}/documents/{doc['id']}", None),
        ("DELETE", f"{base}/documents/{doc['id']}", None),
        ("POST", f"{base}/query", {"query": "refunds"}),
    ]
    successes = []
    for method, path, body in calls:
        response = client.open(path, method=method, headers=stranger, json=body)
        if response.status_code != 404:
            successes.append((method, path, response.status_code))
    assert successes == []
    assert client.get("/knowledge-bases", headers=stranger).get_json()["items"] == []
    # and the owner's is untouched
    assert document(client, owner, kb["id"], doc["id"])["status"] == "ready"


def test_a_text_document_is_queued_ingested_and_found(
    client: Any, owner: dict[str, str], queue: Any, worker_headers: dict[str, str], db: Any
) -> None:
    kb = make_kb(client, owner)
    added = add_text(client, owner, kb["id"], "Refunds", REFUNDS)
    assert added.status_code == 202
    doc = added.get_json()
    assert (doc["status"], doc["source"], len(doc["content_sha256"])) == ("queued", "text", 64)
    second = add_text(client, owner, kb["id"], "Shipping", SHIPPING)
    assert [t.path for t in queue.tasks] == [
        f"/tasks/ingest/{doc['id']}",
        f"/tasks/ingest/{second.get_json()['id']}",
    ]
    assert [a["status"] for a in deliver_all(client, queue, worker_headers)] == ["ready"] * 2
    ready = document(client, owner, kb["id"], doc["id"])
    assert ready["status"] == "ready"
    assert ready["chunks"] >= 1
    assert ready["tokens"] > 20
    assert ready["error"] is None
    assert ready["attempts"] == 1

    for mode in ("hybrid", "vector", "text"):
        passages = query(client, owner, kb["id"], "how long until my refund is paid?", mode=mode)
        assert passages.status_code == 200, passages.get_json()
        best = passages.get_json()["passages"][0]
        assert best["document_id"] == doc["id"], (mode, best)
        assert best["title"] == "Refunds"
        assert best["position"] == 0
        assert best["score"] > 0
    shipping = query(client, owner, kb["id"], "when do parcels leave the warehouse").get_json()
    assert shipping["passages"][0]["title"] == "Shipping"
    counts = client.get(f"/knowledge-bases/{kb['id']}", headers=owner).get_json()
    assert counts["documents"] == 2
    assert counts["chunks"] >= 2


def test_the_same_content_twice_is_one_document(
    client: Any, owner: dict[str, str], queue: Any
) -> None:
    kb = make_kb(client, owner)
    first = add_text(client, owner, kb["id"], "Refunds", REFUNDS)
    again = add_text(client, owner, kb["id"], "Refunds, again", REFUNDS)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert len(queue.tasks) == 1
    # another knowledge base may hold the same content
    other = make_kb(client, owner)
    assert add_text(client, owner, other["id"], "Refunds", REFUNDS).status_code == 202


def test_a_duplicate_delivery_stores_no_chunk_twice(
    client: Any, owner: dict[str, str], queue: Any, worker_headers: dict[str, str], db: Any
) -> None:
    kb = make_kb(client, owner)
    doc = add_text(client, owner, kb["id"], "Topics", "\n\n".join([REFUNDS, SHIPPING] * 40))
    task = queue.tasks[0]
    first = client.post(task.path, headers=worker_headers, json=task.payload).get_json()
    second = client.post(task.path, headers=worker_headers, json=task.payload).get_json()
    assert (first["status"], second["status"]) == ("ready", "done")
    chunks = db.scalar(
        select(func.count())
        .select_from(KnowledgeChunk)
        .where(KnowledgeChunk.document_id == uuid.UUID(doc.get_json()["id"]))
    )
    assert chunks == document(client, owner, kb["id"], doc.get_json()["id"])["chunks"] > 1


def test_uploads_of_markdown_html_and_pdf_are_read(
    client: Any, owner: dict[str, str], queue: Any, worker_headers: dict[str, str]
) -> None:
    kb = make_kb(client, owner)
    files = {
        "notes.md": (b"# Passwords\n\nRotate the vault password every ninety days.", None),
        "page.html": (
            b"<html><head><script>var secret = 'zebra';</script></head><body><h1>Lunch</h1>"
            b"<p>The canteen serves lasagne on Thursdays.</p></body></html>",
            "text/html",
        ),
        "guide.pdf": (
            pdf_with_pages("Badges open the north door.", "Visitors sign in at reception."),
            "application/octet-stream",
        ),
    }
    ids = {}
    for name, (content, content_type) in files.items():
        data = {"file": (io.BytesIO(content), name, content_type or "application/octet-stream")}
        response = client.post(
            f"/knowledge-bases/{kb['id']}/documents",
            headers=owner,
            data=data,
            content_type="multipart/form-data",
        )
        assert response.status_code == 202, response.get_json()
        ids[name] = response.get_json()
    assert ids["guide.pdf"]["media_type"] == "application/pdf"
    assert ids["notes.md"]["title"] == "notes.md"
    deliver_all(client, queue, worker_headers)
    for name, doc in ids.items():
        assert document(client, owner, kb["id"], doc["id"])["status"] == "ready", name
    found = query(client, owner, kb["id"], "who signs in at reception", mode="text").get_json()
    assert found["passages"][0]["title"] == "guide.pdf"
    assert "Visitors sign in" in found["passages"][0]["text"]
    lasagne = query(client, owner, kb["id"], "lasagne").get_json()["passages"][0]
    assert lasagne["title"] == "page.html"
    assert "zebra" not in lasagne["text"]
    assert query(client, owner, kb["id"], "zebra", mode="text").get_json()["passages"] == []


def test_documents_that_cannot_be_read_are_refused_or_fail_with_the_reason(
    client: Any, owner: dict[str, str], queue: Any, worker_headers: dict[str, str]
) -> None:
    kb = make_kb(client, owner)
    path = f"/knowledge-bases/{kb['id']}/documents"

    def upload(name: str, content: bytes, content_type: str) -> Any:
        return client.post(
            path,
            headers=owner,
            data={"file": (io.BytesIO(content), name, content_type)},
            content_type="multipart/form-data",
        )

    assert_error(upload("x.png", b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"), 415)
    assert_error(upload("empty.txt", b"", "text/plain"), 422, "document_empty")
    assert_error(
        client.post(path, headers=owner, data="hello", content_type="text/plain"),
        415,
        "json_or_multipart_required",
    )
    assert_error(client.post(path, headers=owner, json={"text": "no title"}), 422)
    assert_error(client.post(path, headers=owner, json={"artifact_id": str(uuid.uuid4())}), 404)
    broken = upload("broken.pdf", b"%PDF-1.4\nthis is no pdf at all", "application/pdf")
    assert broken.status_code == 202
    blank = upload("blank.txt", b"   \n\n  ", "text/plain")
    assert blank.status_code == 202
    assert {a["status"] for a in deliver_all(client, queue, worker_headers)} == {"failed"}
    for doc in (broken.get_json(), blank.get_json()):
        failed = document(client, owner, kb["id"], doc["id"])
        assert failed["status"] == "failed"
        assert failed["error"]["code"] == "document_unreadable"
        assert failed["error"]["message"]


def test_quotas_refuse_documents_past_them(
    client: Any,
    owner: dict[str, str],
    queue: Any,
    worker_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KNOWLEDGE_MAX_DOCUMENTS", "2")
    monkeypatch.setenv("KNOWLEDGE_DOCUMENT_MAX_BYTES", "2048")
    monkeypatch.setenv("KNOWLEDGE_MAX_CHUNKS", "3")
    reset_settings()
    try:
        kb = make_kb(client, owner)
        assert add_text(client, owner, kb["id"], "a", REFUNDS).status_code == 202
        assert_error(add_text(client, owner, kb["id"], "big", "word " * 1000), 413)
        long = add_text(client, owner, kb["id"], "long", ("A b. " * 400)[:2000])
        assert long.status_code == 202
        refused = add_text(client, owner, kb["id"], "c", SHIPPING)
        assert_error(refused, 429, "knowledge_quota_exceeded")
        deliver_all(client, queue, worker_headers)
        failed = document(client, owner, kb["id"], long.get_json()["id"])
        assert failed["status"] == "failed"
        assert failed["error"]["code"] == "chunk_quota_exceeded"
    finally:
        reset_settings()


def test_deleting_a_document_or_a_knowledge_base_removes_its_chunks(
    client: Any, owner: dict[str, str], queue: Any, worker_headers: dict[str, str], db: Any
) -> None:
    kb = make_kb(client, owner)
    first = add_text(client, owner, kb["id"], "Refunds", REFUNDS).get_json()
    add_text(client, owner, kb["id"], "Shipping", SHIPPING)
    deliver_all(client, queue, worker_headers)

    def chunks() -> int:
        return int(
            db.scalar(
                select(func.count())
                .select_from(KnowledgeChunk)
                .where(KnowledgeChunk.knowledge_base_id == uuid.UUID(kb["id"]))
            )
        )

    before = chunks()
    path = f"/knowledge-bases/{kb['id']}/documents/{first['id']}"
    assert client.delete(path, headers=owner).status_code == 204
    assert 0 < chunks() < before
    assert client.delete(f"/knowledge-bases/{kb['id']}", headers=owner).status_code == 204
    assert chunks() == 0
    assert (
        db.scalar(
            select(func.count())
            .select_from(KnowledgeDocument)
            .where(KnowledgeDocument.knowledge_base_id == uuid.UUID(kb["id"]))
        )
        == 0
    )


def test_a_new_embedder_embeds_every_document_again_through_the_queue(
    client: Any, owner: dict[str, str], queue: Any, worker_headers: dict[str, str]
) -> None:
    kb = make_kb(client, owner)
    doc = add_text(client, owner, kb["id"], "Refunds", REFUNDS).get_json()
    deliver_all(client, queue, worker_headers)
    changed = client.patch(
        f"/knowledge-bases/{kb['id']}",
        headers=owner,
        json={"embedding": {"provider": "test", "dimensions": 768}},
    ).get_json()
    assert changed["embedding"]["dimensions"] == 768
    assert document(client, owner, kb["id"], doc["id"])["status"] == "queued"
    assert [t.path for t in queue.tasks] == [f"/tasks/ingest/{doc['id']}"]
    # meanwhile its words still find it
    assert query(client, owner, kb["id"], "refunds", mode="text").get_json()["passages"]
    deliver_all(client, queue, worker_headers)
    assert document(client, owner, kb["id"], doc["id"])["status"] == "ready"
    best = query(client, owner, kb["id"], "refund paid", mode="vector").get_json()["passages"]
    assert best
    assert best[0]["document_id"] == doc["id"]


def searching_model(question: str) -> FunctionModel:
    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        results = [
            part
            for message in messages
            for part in getattr(message, "parts", [])
            if getattr(part, "tool_name", None) == "knowledge_search"
            and part.part_kind == "tool-return"
        ]
        if not results:
            return ModelResponse(
                parts=[ToolCallPart("knowledge_search", {"query": question}, tool_call_id="k1")]
            )
        passages = results[-1].content["passages"]
        return ModelResponse(parts=[TextPart(passages[0]["text"] if passages else "nothing")])

    return FunctionModel(respond)


def test_an_agent_searches_its_owners_knowledge_base_for_whoever_runs_it(
    client: Any, owner: dict[str, str], queue: Any, worker_headers: dict[str, str]
) -> None:
    kb = make_kb(client, owner)
    doc = add_text(client, owner, kb["id"], "Refunds", REFUNDS).get_json()
    add_text(client, owner, kb["id"], "Shipping", SHIPPING)
    deliver_all(client, queue, worker_headers)
    agent = create_agent(
        client,
        owner,
        definition={
            "model": {"provider": "test", "name": "test"},
            "knowledge": [{"knowledge_base_id": kb["id"], "top_k": 2}],
        },
    )
    user, other = signed_up(client)
    shared = client.put(
        f"/agents/{agent['id']}/permissions/{user['id']}",
        headers=owner,
        json={"level": "execute"},
    )
    assert shared.status_code == 200, shared.get_json()
    with answering(client, searching_model("when is my refund paid")):
        for caller in (owner, other):
            run = execute(client, caller, agent["id"])
            assert run.status_code == 200, run.get_json()
            body = run.get_json()
            assert body["status"] == "succeeded", body
            assert "14 days" in body["output"]
            results = [
                e for e in events_of(client, caller, body["id"]) if e["type"] == "tool_result"
            ]
            assert results, "the tool_result event records what the model saw"
            seen = json.loads(results[0]["payload"]["content"])["passages"]
            assert seen[0]["document_id"] == doc["id"]
            assert isinstance(seen[0]["chunk_id"], int)
            assert len(seen) <= 2
    # the other user still cannot read the knowledge base directly
    assert_error(query(client, other, kb["id"], "refund"), 404)


def test_only_the_owner_attaches_knowledge_bases_and_only_their_own(
    client: Any, owner: dict[str, str]
) -> None:
    mine = make_kb(client, owner)
    stranger = signed_up(client)[1]
    theirs = make_kb(client, stranger)
    refused = client.post(
        "/agents",
        headers=owner,
        json={
            "name": f"a-{uuid.uuid4().hex[:8]}",
            "display_name": "A",
            "definition": {"knowledge": [{"knowledge_base_id": theirs["id"]}]},
        },
    )
    body = assert_error(refused, 422)
    assert body["details"][0]["loc"][-1] == "knowledge_base_id"
    twice = client.post(
        "/agents",
        headers=owner,
        json={
            "name": f"a-{uuid.uuid4().hex[:8]}",
            "display_name": "A",
            "definition": {
                "knowledge": [{"knowledge_base_id": mine["id"]}, {"knowledge_base_id": mine["id"]}]
            },
        },
    )
    assert_error(twice, 422)


def test_ingestion_killed_and_restarted_leaves_no_document_stuck_and_no_chunk_twice(
    live: Any, engine: Any, queue: Any
) -> None:
    """50 documents; a worker process ingests them and is SIGKILLed in the middle; the next
    sweep (once the dead worker's lease ran out) hands the rest out again and they end."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from datetime import UTC, datetime, timedelta

    from core.config import get_settings
    from core.runs.backends import Backends
    from core.services.knowledge_ingestion import LEASE_S, deliver_ingestion, sweep_ingestions
    from tests.conftest import ROOT

    owner = signed_up(live)[1]
    kb = make_kb(live, owner)
    text = "\n\n".join(f"{REFUNDS} Paragraph {i}. {SHIPPING}" for i in range(60))
    ids = [
        add_text(live, owner, kb["id"], f"doc {n}", f"Document {n}.\n\n{text}").get_json()["id"]
        for n in range(50)
    ]
    queue.tasks.clear()
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.support.ingest_worker", *ids],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None
    done = [worker.stdout.readline() for _ in range(5)]  # well into the list
    assert all(line.endswith(" ready\n") for line in done), done
    time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    worker.stdout.close()
    with engine.connect() as conn:
        at_kill = dict(
            conn.execute(
                sa_text(
                    "SELECT status, count(*) FROM knowledge_documents "
                    "WHERE knowledge_base_id = :kb GROUP BY status"
                ),
                {"kb": kb["id"]},
            ).all()
        )

    class Later:
        def now(self) -> datetime:
            return datetime.now(UTC) + timedelta(seconds=LEASE_S + 1)

    restarted = Backends(get_settings(), queue=queue, clock=Later())
    assert sweep_ingestions(restarted) >= 1
    for task in list(queue.tasks):
        deliver_ingestion(uuid.UUID(task.payload["document_id"]), restarted)
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(
                sa_text(
                    "SELECT status, count(*) FROM knowledge_documents "
                    "WHERE knowledge_base_id = :kb GROUP BY status"
                ),
                {"kb": kb["id"]},
            ).all()
        )
        chunks, distinct, expected = conn.execute(
            sa_text(
                "SELECT count(*), count(DISTINCT (document_id, position)), "
                "(SELECT sum(chunk_count) FROM knowledge_documents WHERE knowledge_base_id = :kb) "
                "FROM knowledge_chunks WHERE knowledge_base_id = :kb"
            ),
            {"kb": kb["id"]},
        ).one()
    assert set(statuses) <= {"ready", "failed"}, statuses
    assert sum(statuses.values()) == 50, statuses
    assert chunks == distinct == expected > 50
    report(
        "knowledge ingestion killed",
        f"50 documents, worker SIGKILLed at {at_kill}; after a sweep: {statuses}, "
        f"{chunks} chunks, {distinct} distinct",
    )
    live.delete(f"/knowledge-bases/{kb['id']}", headers=owner)
