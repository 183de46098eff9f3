"""The chunks' SQL: storing a document's chunks, and finding chunks by meaning, by words, or
by both fused (reciprocal rank fusion), always within the knowledge bases given.

A chunk's vector is pgvector's `vector` where the database has the extension: the nearest are
found through the HNSW index of the knowledge base's dimension (`embedding::vector(N)`, partial
on `dimensions = N`; the expression and the predicate are written as the index states them, so
the planner can use it), the knowledge-base filter applied to what the index returns. Elsewhere
it is a `real[]` and the nearest are found exactly, by a dot product (vectors are unit length)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.knowledge.chunking import Chunk
from core.knowledge.embedders import DIMENSIONS

Mode = Literal["hybrid", "vector", "text"]
# the RRF constant (Cormack et al. 2009), and how many candidates each half brings to the fusion
RRF_K = 60
CANDIDATES = 50
# HNSW's candidate list: at least the candidates asked for, more to survive the filter
EF_SEARCH = 200

_kinds: dict[str, str] = {}


@dataclass(frozen=True)
class Passage:
    chunk_id: int
    document_id: uuid.UUID
    title: str
    position: int
    text: str
    score: float

    def public(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk_id,
            "document_id": str(self.document_id),
            "title": self.title,
            "position": self.position,
            "text": self.text,
            "score": round(self.score, 6),
        }


def vector_kind(db: Session) -> str:
    """'vector' (pgvector) or 'array' (real[]): how this database stores a chunk's vector."""
    connection = db.connection()
    key = connection.engine.url.render_as_string(hide_password=True)
    kind = _kinds.get(key)
    if kind is None:
        stored = connection.scalar(
            text(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'knowledge_chunks'::regclass AND attname = 'embedding'"
            )
        )
        kind = _kinds[key] = "vector" if stored == "vector" else "array"
    return kind


def _literal(vector: Sequence[float], kind: str) -> str:
    body = ",".join(repr(float(x)) for x in vector)
    return f"[{body}]" if kind == "vector" else f"{{{body}}}"


def store_chunks(
    db: Session,
    *,
    knowledge_base_id: uuid.UUID,
    document_id: uuid.UUID,
    chunks: Sequence[Chunk],
    vectors: Sequence[Sequence[float]],
    dimensions: int,
) -> None:
    """The document's chunks, replacing any it had (an ingestion repeated after a crash)."""
    kind = vector_kind(db)
    db.execute(text("DELETE FROM knowledge_chunks WHERE document_id = :d"), {"d": document_id})
    cast = "vector" if kind == "vector" else "real[]"
    for start in range(0, len(chunks), 500):
        part = chunks[start : start + 500]
        db.execute(
            text(
                "INSERT INTO knowledge_chunks (knowledge_base_id, document_id, position, text, "  # noqa: S608 (fixed fragments; values are parameters)
                "token_count, dimensions, embedding) "
                f"SELECT :kb, :doc, p, t, n, :dims, CAST(e AS {cast}) "
                "FROM unnest(CAST(:positions AS int[]), CAST(:texts AS text[]), "
                "CAST(:tokens AS int[]), CAST(:vectors AS text[])) AS c(p, t, n, e)"
            ),
            {
                "kb": knowledge_base_id,
                "doc": document_id,
                "dims": dimensions,
                "positions": [c.position for c in part],
                "texts": [c.text for c in part],
                "tokens": [c.tokens for c in part],
                "vectors": [_literal(v, kind) for v in vectors[start : start + len(part)]],
            },
        )


def has_words(query: str) -> bool:
    return re.search(r"[^\W_]", query) is not None


def search(
    db: Session,
    *,
    knowledge_base_ids: Sequence[uuid.UUID],
    query: str,
    query_vector: Sequence[float] | None,
    dimensions: int,
    top_k: int,
    mode: Mode = "hybrid",
) -> list[Passage]:
    """The `top_k` best chunks of these knowledge bases for `query` (its vector given for the
    vector and hybrid modes)."""
    if not knowledge_base_ids or dimensions not in DIMENSIONS:
        return []
    kind = vector_kind(db)
    words = has_words(query) if mode != "vector" else False
    vector = query_vector if mode != "text" else None
    if not words and vector is None:
        return []
    params: dict[str, Any] = {
        "kbs": list(knowledge_base_ids),
        "n": max(CANDIDATES, top_k),
        "k": top_k,
    }
    if vector is not None:
        params["q"] = _literal(vector, kind)
        if kind == "vector":
            db.execute(text(f"SET LOCAL hnsw.ef_search = {EF_SEARCH}"))
    if words:
        params["words"] = query
    statement = search_statement(
        kind,
        dimensions,
        vectors=vector is not None,
        words=words,
        fused=mode == "hybrid",
    )
    rows = db.execute(text(statement), params).all()
    return [Passage(r[0], r[1], r[2], r[3], r[4], float(r[5])) for r in rows]


# The words half's query: the question's lexemes (English stems, stop words out), rarest first,
# as many as together match at most WORD_MATCHES chunks by PostgreSQL's statistics of the
# tsvector column (its most common elements and their frequencies; a lexeme it does not list is
# rarer than any it does), the two rarest always; any of them may match. A question rarely
# holds every word of its answer, so any word may match; a word in many chunks tells little
# (ts_rank has no inverse document frequency), and ranking every chunk that has it is most of
# a query's time: 88 ms against 12 ms at 20,000 chunks when the words in over 5% of them went.
WORD_MATCHES = 2000
# and at most this many chunks that match are ranked: a question of only common words (every
# one of them in thousands of chunks) ranks some of them, and its vector half carries it
RANKED_MATCHES = 5000
WORDED_QUERY = (
    "terms AS (SELECT lexeme FROM unnest(to_tsvector('english', :words)) "  # noqa: S608 (a constant)
    "AS v(lexeme, positions, weights)), "
    "common AS (SELECT m.e, m.f FROM pg_stats s, "
    "unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS m(e, f) "
    "WHERE s.schemaname = current_schema() AND s.tablename = 'knowledge_chunks' "
    "AND s.attname = 'search'), "
    "frequency AS (SELECT t.lexeme, coalesce(c.f, 0) AS f, "
    "row_number() OVER (ORDER BY coalesce(c.f, 0), t.lexeme) AS n, "
    "sum(coalesce(c.f, 0)) OVER (ORDER BY coalesce(c.f, 0), t.lexeme) AS together "
    "FROM terms t LEFT JOIN common c ON c.e = t.lexeme), "
    "kept AS (SELECT lexeme FROM frequency WHERE n <= 2 OR together * greatest((SELECT "
    f"reltuples FROM pg_class WHERE oid = 'knowledge_chunks'::regclass), 0) <= {WORD_MATCHES}), "
    "worded_query AS (SELECT to_tsquery('simple', string_agg(quote_literal(lexeme), ' | ')) "
    "AS q FROM kept), "
)


def search_statement(kind: str, dimensions: int, *, vectors: bool, words: bool, fused: bool) -> str:
    """The SQL of a search: the nearest chunks by vector and/or the best by words (each ranked),
    fused by reciprocal rank or scored by their own measure; parameters :kbs, :n (candidates),
    :k (answers), :q (the query's vector) and :words (the query's text)."""
    assert dimensions in DIMENSIONS
    parts: list[str] = []
    if vectors:
        if kind == "vector":
            distance = f"c.embedding::vector({dimensions}) <=> CAST(:q AS vector({dimensions}))"
        else:
            distance = (
                "1 - (SELECT sum(a * b) FROM unnest(c.embedding, CAST(:q AS real[])) AS v(a, b))"
            )
        parts.append(
            "SELECT id, row_number() OVER (ORDER BY d, id) AS rank, 1 - d AS raw FROM ("  # noqa: S608 (fixed fragments; values are parameters)
            f"SELECT c.id, {distance} AS d FROM knowledge_chunks c "
            f"WHERE c.dimensions = {dimensions} AND c.knowledge_base_id = ANY(:kbs) "
            "ORDER BY d LIMIT :n) AS nearest"
        )
    if words:
        parts.append(
            "SELECT id, row_number() OVER (ORDER BY r DESC, id) AS rank, r AS raw FROM ("  # noqa: S608 (a constant)
            "SELECT m.id, ts_rank(m.search, m.q, 1) AS r FROM ("
            "SELECT c.id, c.search, w.q FROM knowledge_chunks c, worded_query AS w "
            "WHERE c.knowledge_base_id = ANY(:kbs) AND c.search @@ w.q "
            f"LIMIT {RANKED_MATCHES}) AS m "
            "ORDER BY r DESC LIMIT :n) AS worded"
        )
    score = f"sum(1.0 / ({RRF_K} + rank))" if fused else "max(raw)"
    return (
        f"WITH {WORDED_QUERY if words else ''}ranked AS ({' UNION ALL '.join(parts)}), "  # noqa: S608 (fixed fragments; values are parameters)
        f"fused AS (SELECT id, {score} AS score FROM ranked GROUP BY id "
        "ORDER BY score DESC, id LIMIT :k) "
        "SELECT c.id, c.document_id, d.title, c.position, c.text, f.score "
        "FROM fused f JOIN knowledge_chunks c ON c.id = f.id "
        "JOIN knowledge_documents d ON d.id = c.document_id "
        "ORDER BY f.score DESC, c.id"
    )
