"""API schemas of knowledge bases, their documents and queries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from core.schemas.common import PageQuery, RequestModel, ResponseModel, absent_not_null

# the dimensions a knowledge base may choose: each has its HNSW index (migration 0022); pgvector
# indexes at most 2,000 dimensions
DIMENSIONS = (256, 768, 1536)
VERTEX_MODELS = ("gemini-embedding-001", "gemini-embedding-2")

KB_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$"
KnowledgeBaseName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=KB_NAME_PATTERN,
        description="letters, digits, spaces, _ . - (starting with a letter or digit); unique "
        "per user",
    ),
]
Description = Annotated[str, Field(max_length=2000)]
MAX_TEXT_CHARS = 2_000_000
MAX_TOP_K = 50


Dimensions = Literal[256, 768, 1536]
DIMENSIONS_DOC = "the vector's length: " + ", ".join(map(str, DIMENSIONS))


class TestEmbedding(RequestModel):
    """The offline embedder: lexical (hashed words), for local development and tests."""

    provider: Literal["test"]
    model: Literal["hashed-ngrams"] | None = None
    dimensions: Dimensions | None = Field(default=None, description=DIMENSIONS_DOC + " (1536)")


class VertexEmbedding(RequestModel):
    """Google's embedding models on Vertex AI."""

    provider: Literal["vertex"]
    model: Literal["gemini-embedding-001", "gemini-embedding-2"] | None = Field(
        default=None, description="default gemini-embedding-001"
    )
    dimensions: Dimensions | None = Field(default=None, description=DIMENSIONS_DOC + " (768)")


EmbeddingChoice = Annotated[TestEmbedding | VertexEmbedding, Field(discriminator="provider")]


class KnowledgeBaseCreate(RequestModel):
    model_config = RequestModel.model_config | {
        "json_schema_extra": {
            "example": {
                "name": "handbook",
                "description": "the team handbook",
                "embedding": {"provider": "test"},
            }
        }
    }

    name: KnowledgeBaseName
    description: Description | None = None
    embedding: EmbeddingChoice = Field(
        default_factory=lambda: TestEmbedding(provider="test"),
        description="how chunks are embedded (default: the offline test embedder)",
    )


class KnowledgeBaseUpdate(RequestModel):
    NOT_NULL: ClassVar[tuple[str, ...]] = ("name", "embedding")

    name: KnowledgeBaseName | None = None
    description: Description | None = None
    embedding: EmbeddingChoice | None = Field(
        default=None,
        description="a new embedder: every document is embedded again through the queue "
        "(status queued, then ready); until then its chunks are found by their words only",
    )


class EmbeddingPublic(ResponseModel):
    provider: str
    model: str
    dimensions: int


class KnowledgeBasePublic(ResponseModel):
    id: uuid.UUID
    owner_id: uuid.UUID
    name: str
    description: str | None
    embedding: EmbeddingPublic
    documents: int = Field(description="documents in it, of any status")
    chunks: int
    created_at: datetime
    updated_at: datetime


def _one_source(schema: dict[str, Any], model: Any) -> None:
    absent_not_null(schema, model)
    schema["oneOf"] = [
        {"required": ["title", "text"], "not": {"required": ["artifact_id"]}},
        {"required": ["artifact_id"], "not": {"required": ["text"]}},
    ]
    schema["example"] = {"title": "Refunds", "text": "Refunds are paid within 14 days."}


class DocumentText(RequestModel):
    """A document given as JSON: text with a title, or one of your artifacts."""

    model_config = RequestModel.model_config | {
        "json_schema_extra": lambda schema, model: _one_source(schema, model)
    }

    NOT_NULL: ClassVar[tuple[str, ...]] = ("title", "text", "artifact_id")

    title: str | None = Field(default=None, min_length=1, max_length=300)
    text: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT_CHARS)
    artifact_id: uuid.UUID | None = Field(
        default=None, description="one of your artifacts (text, Markdown, HTML or PDF)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> DocumentText:
        if (self.text is None) == (self.artifact_id is None):
            raise ValueError("give either text (with a title) or artifact_id")
        if self.text is not None and self.title is None:
            raise ValueError("a text document needs a title")
        return self


class DocumentUploadForm(RequestModel):
    title: str | None = Field(
        default=None, min_length=1, max_length=300, description="default: the file's name"
    )


class DocumentPublic(ResponseModel):
    id: uuid.UUID
    knowledge_base_id: uuid.UUID
    title: str
    source: Literal["upload", "artifact", "text"]
    media_type: str
    artifact_id: uuid.UUID | None
    content_sha256: str
    size_bytes: int
    status: Literal["queued", "processing", "ready", "failed"]
    error: dict[str, Any] | None = Field(description="why it failed: {code, message}")
    chunks: int = Field(validation_alias="chunk_count")
    tokens: int = Field(validation_alias="token_count")
    attempts: int
    created_at: datetime
    updated_at: datetime


class KnowledgeQuery(RequestModel):
    model_config = RequestModel.model_config | {
        "json_schema_extra": {"example": {"query": "how long do refunds take?", "top_k": 5}}
    }

    query: str = Field(min_length=1, max_length=2000)
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K)
    mode: Literal["hybrid", "vector", "text"] = Field(
        default="hybrid",
        description="hybrid: vector and full-text ranks fused (reciprocal rank fusion); vector: "
        "by meaning; text: by words",
    )


class PassagePublic(ResponseModel):
    chunk_id: int
    document_id: uuid.UUID
    title: str
    position: int = Field(description="the chunk's place in its document, from 0")
    text: str
    score: float = Field(
        description="hybrid: the fused reciprocal-rank score; vector: cosine similarity; "
        "text: full-text rank"
    )


class KnowledgeAnswer(ResponseModel):
    passages: list[PassagePublic]


class DocumentsQuery(PageQuery):
    status: Literal["queued", "processing", "ready", "failed"] | None = None
