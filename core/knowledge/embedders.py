"""Text to vectors. A knowledge base names its embedder (`provider`, `model`, `dimensions`);
every vector stored or asked for is unit length, so cosine distance is one minus a dot product.

- `test`: offline, deterministic and lexical. Stop words are dropped; each word's stem (a few
  English suffixes off) and its character 4-grams (of `<word>`, as fastText hashes subwords)
  are hashed (CRC-32, signed) into the vector's dimensions, a stem weighing 1 + log(1 + count),
  a 4-gram 0.3 per occurrence, into 1,536 dimensions by default: a 128-token chunk has ~450
  distinct features, which 256 dimensions share out two or three to a slot (its vector-only
  recall@5 on three question sets of tests/support/retrieval_eval.py: 0.79-0.83 at 256,
  0.92-0.96 at 1,536). Texts that share words or most of a word's letters are close:
  local retrieval is meaningful, and it errs differently from full-text search, which needs
  each word spelled as its stem (a misspelled or oddly inflected word still shares 4-grams).
- `vertex`: Google's embedding models on Vertex AI through pydantic-ai (`GoogleEmbeddingModel`,
  the agents' Google Cloud provider), asked for the knowledge base's dimensions, documents and
  queries embedded as such."""

from __future__ import annotations

import math
import re
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from core.config import Settings
from core.schemas.knowledge import DIMENSIONS, VERTEX_MODELS

__all__ = ["DIMENSIONS", "VERTEX_MODELS", "Embedder", "EmbeddingSpec", "embedder_for"]

# the test embedder's subwords: character 4-grams, each occurrence weighing this against a stem's 1
GRAM = 4
GRAM_WEIGHT = 0.3
DEFAULT_MODELS = {"test": "hashed-ngrams", "vertex": "gemini-embedding-001"}
DEFAULT_DIMENSIONS = {"test": 1536, "vertex": 768}
# requests in flight to the provider while embedding a document
CONCURRENT_REQUESTS = 8

Purpose = Literal["document", "query"]


@dataclass(frozen=True)
class EmbeddingSpec:
    provider: str
    model: str
    dimensions: int


class Embedder(Protocol):
    def embed(self, texts: Sequence[str], purpose: Purpose) -> list[list[float]]: ...


def embedder_for(spec: EmbeddingSpec, settings: Settings) -> Embedder:
    if spec.provider == "test":
        return HashingEmbedder(spec.dimensions)
    if spec.provider == "vertex":
        return VertexEmbedder(spec, settings)
    raise ValueError(f"no embedder {spec.provider!r}")


# -- test -------------------------------------------------------------------------------------

WORD = re.compile(r"[^\W_]+", re.UNICODE)
STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)
SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "ness", "ment", "ers", "er", "es",
            "ed", "ly", "s")  # fmt: skip


def stem(word: str) -> str:
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


class HashingEmbedder:
    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self._slots: dict[str, tuple[int, float]] = {}

    def embed(self, texts: Sequence[str], purpose: Purpose) -> list[list[float]]:
        return [self._one(text) for text in texts]

    def _slot(self, feature: str) -> tuple[int, float]:
        slot = self._slots.get(feature)
        if slot is None:
            h = zlib.crc32(feature.encode())
            slot = (h % self.dimensions, 1.0 if h & 0x80000000 else -1.0)
            if len(self._slots) < 200_000:
                self._slots[feature] = slot
        return slot

    def _one(self, text: str) -> list[float]:
        words = [w for w in WORD.findall(text.lower()) if w not in STOP]
        features: defaultdict[str, float] = defaultdict(float)
        for word in words:
            features[stem(word)] += 1.0
            bounded = f"<{word}>"
            for i in range(len(bounded) - GRAM + 1):
                features["#" + bounded[i : i + GRAM]] += GRAM_WEIGHT
        vector = [0.0] * self.dimensions
        for feature, count in features.items():
            index, sign = self._slot(feature)
            vector[index] += sign * (1.0 + math.log(1.0 + count) if count >= 1 else count)
        return unit(vector)


def unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:
        return vector
    return [x / norm for x in vector]


# -- vertex -----------------------------------------------------------------------------------


class VertexEmbedder:
    """Vertex takes one text per request for its Gemini embedding models (gemini-embedding-001
    refuses a batch: "batchSize must be 1"; embedContent takes one content), so a batch is
    sent as that many requests, CONCURRENT_REQUESTS at a time."""

    def __init__(self, spec: EmbeddingSpec, settings: Settings, provider: Any = None) -> None:
        """`provider`: a Google Cloud provider of the caller's (default: the agents' own)."""
        self.spec = spec
        self.settings = settings
        self.provider = provider

    def embed(self, texts: Sequence[str], purpose: Purpose) -> list[list[float]]:
        from core.agents.loop import run_on_agent_loop

        return run_on_agent_loop(self._embed(list(texts), purpose))

    async def _embed(self, texts: list[str], purpose: Purpose) -> list[list[float]]:
        import asyncio

        from pydantic_ai.embeddings import EmbeddingSettings
        from pydantic_ai.embeddings.google import GoogleEmbeddingModel

        from core.agents.providers import google_cloud_provider

        model: Any = GoogleEmbeddingModel(
            self.spec.model,
            provider=self.provider or google_cloud_provider(self.settings),
            settings=EmbeddingSettings(dimensions=self.spec.dimensions),
        )
        gate = asyncio.Semaphore(CONCURRENT_REQUESTS)

        async def one(text: str) -> list[float]:
            async with gate:
                result = await model.embed([text], input_type=purpose)
            if len(result.embeddings) != 1:
                raise RuntimeError("the embedding model answered without a vector")
            vector = [float(x) for x in result.embeddings[0]]
            if len(vector) != self.spec.dimensions:
                raise RuntimeError(
                    f"the embedding model answered {len(vector)} dimensions, not "
                    f"{self.spec.dimensions}"
                )
            return unit(vector)

        return list(await asyncio.gather(*(one(text) for text in texts)))
