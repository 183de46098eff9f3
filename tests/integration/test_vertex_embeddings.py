"""The `vertex` embedder against the fake Vertex server speaking the embedding wire formats, with
the rules the real one holds: gemini-embedding-001 takes one text per `:predict` request,
gemini-embedding-2 one content per `:embedContent`; vectors come at the asked dimensions, not
unit length below 3072. A 429 reaches the caller as an error (ingestion retries it)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic_ai.exceptions import ModelHTTPError

from core.config import Settings
from core.knowledge.embedders import EmbeddingSpec, VertexEmbedder
from tests.support.fake_vertex import FakeVertex, fake_credentials


@pytest.fixture
def fake() -> Iterator[FakeVertex]:
    with FakeVertex() as server:
        yield server


@pytest.fixture
def provider(fake: FakeVertex) -> Iterator[Any]:
    """A Google Cloud provider on the fake, its HTTP client closed on the loop that used it."""
    import httpx2
    from pydantic_ai.providers.google_cloud import GoogleCloudProvider

    from core.agents.loop import run_on_agent_loop

    async def client() -> Any:
        return httpx2.AsyncClient(timeout=60)

    http = run_on_agent_loop(client())
    yield GoogleCloudProvider(
        project="proj",
        location="us-central1",
        base_url=fake.url,
        credentials=fake_credentials(),
        http_client=http,
    )
    run_on_agent_loop(http.aclose())


def embedder(provider: Any, model: str, dimensions: int) -> VertexEmbedder:
    settings = Settings.from_environ(
        {"SECRET_KEY": "x" * 40, "VERTEX_PROJECT": "proj", "VERTEX_LOCATION": "us-central1"}
    )
    return VertexEmbedder(EmbeddingSpec("vertex", model, dimensions), settings, provider)


TEXTS = [
    "Refunds are paid within 14 days.",
    "Parcels leave the warehouse at noon.",
    "The canteen serves lasagne on Thursdays.",
] * 4


@pytest.mark.parametrize(
    ("model", "method"),
    [("gemini-embedding-001", "predict"), ("gemini-embedding-2", "embedContent")],
)
def test_each_text_is_one_request_and_vectors_come_back_unit_length(
    fake: FakeVertex, provider: Any, model: str, method: str
) -> None:
    vectors = embedder(provider, model, 768).embed(TEXTS, "document")
    assert len(vectors) == len(TEXTS)
    assert {len(v) for v in vectors} == {768}
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-6 for v in vectors)
    calls = [r for r in fake.requests if r.route.get("method") == method]
    assert len(calls) == len(TEXTS)
    assert {r.route["model"] for r in calls} == {model}
    # the same text, the same vector; a question lands nearest its passage
    assert vectors[0] == vectors[3]
    query = embedder(provider, model, 768).embed(["when are refunds paid"], "query")[0]
    nearest = max(
        range(3), key=lambda i: sum(a * b for a, b in zip(query, vectors[i], strict=True))
    )
    assert nearest == 0


def test_the_fake_refuses_a_batch_as_vertex_does(fake: FakeVertex) -> None:
    import json
    import urllib.error
    import urllib.request

    path = "/v1beta1/projects/p/locations/l/publishers/google/models/gemini-embedding-001:predict"
    request = urllib.request.Request(
        fake.url + path,
        data=json.dumps({"instances": [{"content": "a"}, {"content": "b"}]}).encode(),
        headers={"content-type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400
    assert "batchSize must be 1" in refused.value.read().decode()


def test_a_rate_limited_embedding_fails_loudly(fake: FakeVertex, provider: Any) -> None:
    fake.embedding_failures.append(429)
    with pytest.raises(ModelHTTPError):
        embedder(provider, "gemini-embedding-001", 256).embed(["one text"], "document")
