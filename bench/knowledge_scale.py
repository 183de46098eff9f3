"""Knowledge bases at scale, in one run, on PostgreSQL with pgvector (default: the embedded
pgserver `make dev` uses; `--database-url` another server with the extension).

* ingestion: `--documents` documents (~100 chunks each) through the worker's own path
  (core.services.knowledge_ingestion: read, chunk, embed with the `test` embedder, store with
  the HNSW index in place): chunks per second.
* then one knowledge base is filled to `--chunks` chunks in all (bulk, the HNSW index dropped),
  beside 10 others of `--others` chunks each, and the index is built: its build time.
* queries on the big knowledge base: hybrid, vector and text, p50 and p95 over `--queries`, and
  the plan of the vector half (the HNSW index used, the knowledge-base filter applied).

    .venv/bin/python bench/knowledge_scale.py [--chunks 100000] [--others 2000]"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import scratch_database  # type: ignore[import-not-found]  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", default="embedded")
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--others", type=int, default=2_000)
    parser.add_argument("--documents", type=int, default=40)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dimensions", type=int, default=None, help="the test embedder's (1536)")
    args = parser.parse_args()

    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from core.config import get_settings, reset_settings
    from core.knowledge.chunking import split_into_chunks
    from core.knowledge.embedders import DEFAULT_DIMENSIONS, HashingEmbedder
    from core.knowledge.search import search, search_statement, store_chunks
    from tests.support import knowledge_rows
    from tests.support.retrieval_eval import corpus

    url = args.database_url
    if url == "embedded":
        from core.db.embedded import embedded_database_url

        url = embedded_database_url(ROOT / ".data" / "bench-pg")
    documents = corpus()
    rng = random.Random(3)
    paragraphs = [p for _, text in documents for p in text.split("\n\n") if len(p) > 80]
    dims = args.dimensions or DEFAULT_DIMENSIONS["test"]
    embedder = HashingEmbedder(dims)

    def text_of(n_paragraphs: int) -> str:
        return "\n\n".join(rng.choice(paragraphs) for _ in range(n_paragraphs))

    with scratch_database(url) as db_url:
        import os

        os.environ["DATABASE_URL"] = db_url
        reset_settings()
        from core.db import reset_engine

        reset_engine()
        engine = sa.create_engine(db_url)
        with Session(engine) as db:
            owner = knowledge_rows.owner(db)
            big = knowledge_rows.knowledge_base(db, owner, dims)
            queued = [
                knowledge_rows.document(
                    db, big, owner, f"doc {n}", content=text_of(330), status="queued"
                )
                for n in range(args.documents)
            ]
            db.commit()

        # 1. ingestion through the worker's path, the HNSW index in place
        from core.runs.backends import Backends
        from core.services.knowledge_ingestion import deliver_ingestion
        from tests.support.queues import RecordingQueue

        backends = Backends(get_settings(), queue=RecordingQueue())
        started = time.perf_counter()
        for doc_id in queued:
            assert deliver_ingestion(doc_id, backends).status == "ready"
        ingest_s = time.perf_counter() - started
        with engine.connect() as conn:
            ingested = conn.scalar(sa.text("SELECT count(*) FROM knowledge_chunks"))
        print(
            f"ingestion ({args.documents} documents through the worker's path, test embedder "
            f"at {dims} dimensions, "
            f"HNSW in place): {ingested} chunks in {ingest_s:.1f} s = "
            f"{ingested / ingest_s:.0f} chunks/s"
        )

        # 2. bulk fill: the big one to --chunks, 10 others beside it; then build the index
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP INDEX ix_knowledge_chunks_embedding_{dims}"))
        started = time.perf_counter()
        with Session(engine) as db:
            targets = [(big, args.chunks - ingested)] + [
                (knowledge_rows.knowledge_base(db, owner, dims), args.others) for _ in range(10)
            ]
            for kb_id, wanted in targets:
                while wanted > 0:
                    doc_id = knowledge_rows.document(db, kb_id, owner, "filler")
                    chunks = split_into_chunks(text_of(350))[: min(wanted, 120)]
                    store_chunks(
                        db,
                        knowledge_base_id=kb_id,
                        document_id=doc_id,
                        chunks=chunks,
                        vectors=embedder.embed([c.text for c in chunks], "document"),
                        dimensions=dims,
                    )
                    wanted -= len(chunks)
                db.commit()
        fill_s = time.perf_counter() - started
        with engine.connect() as conn:
            total = conn.scalar(sa.text("SELECT count(*) FROM knowledge_chunks"))
            in_big = conn.scalar(
                sa.text("SELECT count(*) FROM knowledge_chunks WHERE knowledge_base_id = :kb"),
                {"kb": big},
            )
        print(f"bulk fill: {total} chunks ({in_big} in the big one) in {fill_s:.1f} s")
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(sa.text("SET maintenance_work_mem = '512MB'"))
            conn.execute(
                sa.text(
                    f"CREATE INDEX ix_knowledge_chunks_embedding_{dims} ON knowledge_chunks "
                    f"USING hnsw ((embedding::vector({dims})) vector_cosine_ops) "
                    f"WHERE dimensions = {dims}"
                )
            )
            conn.execute(sa.text("ANALYZE knowledge_chunks"))
        print(f"HNSW index build over {total} chunks: {time.perf_counter() - started:.1f} s")

        # 3. queries
        questions = [" ".join(rng.choice(paragraphs).split()[5:13]) for _ in range(args.queries)]
        for mode in ("hybrid", "vector", "text"):
            samples = []
            with Session(engine) as db:
                for q in questions:
                    t0 = time.perf_counter()
                    search(
                        db,
                        knowledge_base_ids=[big],
                        query=q,
                        query_vector=embedder.embed([q], "query")[0],
                        dimensions=dims,
                        top_k=5,
                        mode=mode,  # type: ignore[arg-type]
                    )
                    samples.append((time.perf_counter() - t0) * 1000)
                    db.rollback()
            samples.sort()
            print(
                f"query {mode:<6} over {in_big} chunks: p50 {statistics.median(samples):.1f} ms, "
                f"p95 {samples[int(len(samples) * 0.95) - 1]:.1f} ms (embedding the query "
                "included)"
            )
        with Session(engine) as db:
            db.execute(sa.text("SET LOCAL hnsw.ef_search = 200"))
            vector = embedder.embed([questions[0]], "query")[0]
            plan = db.execute(
                sa.text(
                    "EXPLAIN ANALYZE "
                    + search_statement("vector", dims, vectors=True, words=False, fused=False)
                ),
                {"kbs": [big], "n": 50, "k": 5, "q": "[" + ",".join(map(str, vector)) + "]"},
            ).scalars()
            print("plan of a vector query:")
            for line in plan:
                print("   ", line)
        engine.dispose()
        reset_engine()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
