"""A worker process that ingests knowledge-base documents one after another, as the queue
delivers them, until the test kills it (SIGKILL, wherever it is).

    python -m tests.support.ingest_worker <document_id> [<document_id> ...]

Prints each document's delivery status as it ends ("<id> <status>"), flushed, so the test can
kill it in the middle of the list."""

from __future__ import annotations

import sys
import uuid


def main(ids: list[str]) -> None:
    from core.runs.backends import Backends
    from core.services.knowledge_ingestion import deliver_ingestion
    from tests.support.queues import RecordingQueue

    backends = Backends(queue=RecordingQueue())
    for document_id in ids:
        delivery = deliver_ingestion(uuid.UUID(document_id), backends)
        print(document_id, delivery.status, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
