"""Knowledge search on PostgreSQL with pgvector, as Cloud SQL and `make dev` have it (a server
of the test's own, from the embedded pgserver's binaries, which ship pgvector): chunk vectors
are `vector`, each dimension has its HNSW index, the planner uses it with the knowledge-base
filter applied to what it returns, and retrieval on the interpreter's documentation is
measured for each mode."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.knowledge.chunking import Chunk
from core.knowledge.embedders import DEFAULT_DIMENSIONS, HashingEmbedder
from core.knowledge.search import search, search_statement, vector_kind
from tests.support import knowledge_rows
from tests.support.postgres_instance import postgres_instance
from tests.support.report import report
from tests.support.retrieval_eval import corpus, questions, scores


@pytest.fixture(scope="module")
def pgvector() -> Iterator[sa.Engine]:
    from core.db.engine import pg8000_url
    from core.db.migrate import upgrade_to_head

    with postgres_instance() as pg:
        engine = sa.create_engine(pg8000_url(pg.url))
        upgrade_to_head(engine)
        try:
            yield engine
        finally:
            engine.dispose()


DIMS = DEFAULT_DIMENSIONS["test"]
EMBEDDER = HashingEmbedder(DIMS)


def knowledge_base(db: Session, documents: list[tuple[str, str]], size: int = 128) -> uuid.UUID:
    owner_id = knowledge_rows.owner(db)
    kb_id = knowledge_rows.knowledge_base(db, owner_id)
    knowledge_rows.filled(db, kb_id, owner_id, documents, EMBEDDER, size=size)
    return kb_id


@pytest.fixture(scope="module")
def topics(pgvector: sa.Engine) -> tuple[uuid.UUID, uuid.UUID]:
    """The reference topics in one knowledge base, a few module docstrings in a small other."""
    documents = corpus()
    with Session(pgvector) as db:
        big = knowledge_base(db, [d for d in documents if d[0].startswith("topic ")])
        small = knowledge_base(db, [d for d in documents if d[0].startswith("module")][:3])
        db.commit()
        db.execute(sa.text("ANALYZE knowledge_chunks"))
        db.commit()
    return big, small


def test_vectors_are_pgvector_with_an_hnsw_index_per_dimension(pgvector: sa.Engine) -> None:
    with Session(pgvector) as db:
        assert vector_kind(db) == "vector"
        indexes = db.scalars(
            sa.text(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'knowledge_chunks' "
                "AND indexdef LIKE '%hnsw%'"
            )
        ).all()
    assert sorted(len(i) > 0 and i.split("dimensions = ")[1].rstrip(")") for i in indexes) == [
        "1536",
        "256",
        "768",
    ]


def plan(db: Session, kb_ids: list[uuid.UUID], words: str | None) -> str:
    vector = EMBEDDER.embed(["how do generators yield values"], "query")[0]
    statement = search_statement(
        "vector", DIMS, vectors=True, words=words is not None, fused=words is not None
    )
    params: dict[str, Any] = {
        "kbs": kb_ids,
        "n": 50,
        "k": 5,
        "q": "[" + ",".join(map(str, vector)) + "]",
    }
    if words:
        params["words"] = words
    db.execute(sa.text("SET LOCAL hnsw.ef_search = 200"))
    rows = db.execute(sa.text(f"EXPLAIN {statement}"), params).scalars().all()
    return "\n".join(rows)


def test_the_planner_uses_the_hnsw_index_and_applies_the_filter(
    pgvector: sa.Engine, topics: tuple[uuid.UUID, uuid.UUID]
) -> None:
    big, _small = topics
    with Session(pgvector) as db:
        vector_plan = plan(db, [big], None)
        hybrid_plan = plan(db, [big], "generators yield values")
    for shown in (vector_plan, hybrid_plan):
        assert f"ix_knowledge_chunks_embedding_{DIMS}" in shown, shown
        assert "knowledge_base_id = ANY" in shown, shown
    # the hybrid plan has its words half too (the vector-only one has none)
    assert "search @@" in hybrid_plan, hybrid_plan
    assert "search @@" not in vector_plan, vector_plan


def test_a_search_reads_only_the_knowledge_bases_it_is_given(
    pgvector: sa.Engine, topics: tuple[uuid.UUID, uuid.UUID]
) -> None:
    _big, small = topics
    with Session(pgvector) as db:
        for mode in ("hybrid", "vector", "text"):
            found = search(
                db,
                knowledge_base_ids=[small],
                query="generator functions yield values",
                query_vector=EMBEDDER.embed(["generator functions yield values"], "query")[0],
                dimensions=DIMS,
                top_k=10,
                mode=mode,  # type: ignore[arg-type]
            )
            kbs = set(
                db.scalars(
                    sa.text(
                        "SELECT DISTINCT knowledge_base_id FROM knowledge_chunks "
                        "WHERE id = ANY(:ids)"
                    ),
                    {"ids": [p.chunk_id for p in found]},
                )
            )
            assert kbs <= {small}, mode


def test_hybrid_retrieval_beats_vectors_alone_and_words_alone(
    pgvector: sa.Engine, topics: tuple[uuid.UUID, uuid.UUID]
) -> None:
    big, _small = topics
    with Session(pgvector) as db:
        rows = db.execute(
            sa.text(
                "SELECT id, position, text, token_count FROM knowledge_chunks "
                "WHERE knowledge_base_id = :kb"
            ),
            {"kb": big},
        ).all()
        chunks = [(row[0], Chunk(row[1], row[2], row[3])) for row in rows]
        qs = questions(chunks, 120)

        def searcher(mode: str) -> Any:
            def found(query: str) -> list[int]:
                passages = search(
                    db,
                    knowledge_base_ids=[big],
                    query=query,
                    query_vector=EMBEDDER.embed([query], "query")[0],
                    dimensions=DIMS,
                    top_k=10,
                    mode=mode,  # type: ignore[arg-type]
                )
                return [p.chunk_id for p in passages]

            return found

        measured = {mode: scores(qs, searcher(mode)) for mode in ("vector", "text", "hybrid")}
    for mode, (r, m) in measured.items():
        report(
            "knowledge retrieval",
            f"{mode:<7} recall@5 {r:.3f} MRR {m:.3f} ({len(qs)} questions, {len(chunks)} chunks, "
            "pgvector HNSW)",
        )
    # the two halves err differently (the words need each stem spelled right; the embedder
    # shares 4-grams with a misspelled word but has no inverse document frequency): fused by
    # reciprocal rank, they beat each alone
    hybrid = measured["hybrid"]
    for half in ("vector", "text"):
        assert hybrid[0] >= measured[half][0], measured
        assert hybrid[1] > measured[half][1], measured
