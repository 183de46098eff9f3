"""Retrieval quality and scale of knowledge bases, in one run.

quality: the interpreter's documentation (tests/support/retrieval_eval.py) chunked (128 tokens,
overlap 24) into one knowledge base, embedded with the offline `test` embedder; `--questions`
questions made from its sentences; recall@5 and MRR for vector-only, full-text-only and hybrid.

    .venv/bin/python bench/retrieval.py [--database-url URL] [--questions 250]

The database decides how vectors are searched: pgvector's HNSW where the server has the
extension (the embedded pgserver: `--database-url embedded`), exact dot products elsewhere."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import DEFAULT_DATABASE_URL, scratch_database  # type: ignore[import-not-found]  # noqa: E402


def server_url(given: str) -> str:
    if given != "embedded":
        return given
    from core.db.embedded import embedded_database_url

    return embedded_database_url(ROOT / ".data" / "bench-pg")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--questions", type=int, default=250)
    args = parser.parse_args()

    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from core.knowledge.embedders import DEFAULT_DIMENSIONS, HashingEmbedder
    from core.knowledge.search import search, vector_kind
    from tests.support import knowledge_rows
    from tests.support.retrieval_eval import corpus, questions, scores

    with scratch_database(server_url(args.database_url)) as url:
        engine = sa.create_engine(url)
        dimensions = DEFAULT_DIMENSIONS["test"]
        embedder = HashingEmbedder(dimensions)
        chunk_rows = []
        started = time.perf_counter()
        with Session(engine) as db:
            owner = knowledge_rows.owner(db)
            kb_id = knowledge_rows.knowledge_base(db, owner)
            n_chunks = knowledge_rows.filled(
                db, kb_id, owner, corpus(), embedder, size=128, overlap=24
            )
            db.commit()
            ids = db.execute(
                sa.text("SELECT id, position, text, token_count FROM knowledge_chunks")
            ).all()
            from core.knowledge.chunking import Chunk

            chunk_rows = [(row[0], Chunk(row[1], row[2], row[3])) for row in ids]
            kind = vector_kind(db)
        ingest_s = time.perf_counter() - started
        qs = questions(chunk_rows, args.questions)
        print(
            f"{n_chunks} chunks of {len(corpus())} documents ({kind} search), "
            f"ingested in {ingest_s:.1f} s; {len(qs)} questions"
        )
        results = {}
        for mode in ("vector", "text", "hybrid"):
            with Session(engine) as db:

                def found(query: str, mode: str = mode, db: Session = db) -> list[int]:
                    vector = embedder.embed([query], "query")[0]
                    passages = search(
                        db,
                        knowledge_base_ids=[kb_id],
                        query=query,
                        query_vector=vector,
                        dimensions=dimensions,
                        top_k=10,
                        mode=mode,  # type: ignore[arg-type]
                    )
                    return [p.chunk_id for p in passages]

                t0 = time.perf_counter()
                recall, mrr = scores(qs, found)
                per_query = (time.perf_counter() - t0) / len(qs) * 1000
            results[mode] = (recall, mrr)
            print(f"{mode:<7} recall@5 {recall:.3f}  MRR {mrr:.3f}  ({per_query:.1f} ms/query)")
        engine.dispose()
    best_single = max(results["vector"][1], results["text"][1])
    print(f"hybrid MRR / best single: {results['hybrid'][1] / best_single:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
