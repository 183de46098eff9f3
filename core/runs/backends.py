"""What the run engine and the services are given to work with: the run store, the task queue,
the artifact store, the clock and, for tests, the model every agent answers with (`Backends`).
An app is built with one (core.http.app.create_app; the process's own when none is given) and
hands it to every handler that asks for `backends` (core.http.dispatch); tests give one of fakes
(tests/support/run_fakes.py, tests/support/queues.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from core.clock import SYSTEM_CLOCK, Clock
from core.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.runs.store import RunStore
    from core.storage.store import ArtifactStore
    from core.tasks.task import TaskQueue


class Backends:
    """The collaborators of a run. Those not given are the process's own (PostgreSQL, the
    configured queue and bucket, each made once per process), for the settings of the moment
    when no settings are given. `model`: a pydantic-ai model every agent built for these runs
    answers with instead of its definition's provider (tests give FunctionModel scripts)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: RunStore | None = None,
        queue: TaskQueue | None = None,
        artifacts: ArtifactStore | None = None,
        clock: Clock = SYSTEM_CLOCK,
        model: Any = None,
        unit_of_work: Callable[[], AbstractContextManager[Session]] | None = None,
    ) -> None:
        self._settings = settings
        self._unit_of_work = unit_of_work
        self.clock = clock
        self.model = model
        self._store = store
        self._queue = queue
        self._artifacts = artifacts
        self._lock = threading.Lock()
        self._made_store: tuple[Settings, ArtifactStore, RunStore] | None = None

    def unit_of_work(self) -> AbstractContextManager[Session]:
        """A transaction of the database (core.db.transaction unless one was given), for the
        work a request's own unit of work does not cover: deliveries, sweeps, schedules."""
        if self._unit_of_work is not None:
            return self._unit_of_work()
        from core.db import transaction

        return transaction()

    @property
    def settings(self) -> Settings:
        if self._settings is not None:
            return self._settings
        from core.config import get_settings

        return get_settings()

    @property
    def store(self) -> RunStore:
        if self._store is not None:
            return self._store
        settings, artifacts = self.settings, self.artifacts
        made = self._made_store
        if made is None or made[0] is not settings or made[1] is not artifacts:
            from core.runs.sql_store import SqlRunStore

            with self._lock:
                made = (settings, artifacts, SqlRunStore(settings, artifacts, self.clock))
                self._made_store = made
        return made[2]

    @property
    def queue(self) -> TaskQueue:
        if self._queue is not None:
            return self._queue
        from core.tasks.queue import get_task_queue

        return get_task_queue(self.settings)

    @property
    def artifacts(self) -> ArtifactStore:
        if self._artifacts is not None:
            return self._artifacts
        from core.storage.backend import get_artifact_store

        return get_artifact_store(self.settings)
