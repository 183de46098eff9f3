"""What the run engine and the services that start runs are given to work with: the run store,
the task queue, the artifact store and the clock (`Backends`). Handlers ask for `backends`
(core.http.dispatch); tests of the engine build one from fakes (tests/support/run_fakes.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.clock import SYSTEM_CLOCK, Clock
from core.config import Settings

if TYPE_CHECKING:
    from core.runs.store import RunStore
    from core.storage.store import ArtifactStore
    from core.tasks.task import TaskQueue


class Backends:
    """The collaborators of a run. Those not given are the process's own (PostgreSQL, the
    configured queue and bucket), resolved on first use: a sync run never builds a queue."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: RunStore | None = None,
        queue: TaskQueue | None = None,
        artifacts: ArtifactStore | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._store = store
        self._queue = queue
        self._artifacts = artifacts

    @property
    def store(self) -> RunStore:
        if self._store is None:
            from core.runs.sql_store import SqlRunStore

            self._store = SqlRunStore(self.settings, self.artifacts, self.clock)
        return self._store

    @property
    def queue(self) -> TaskQueue:
        if self._queue is None:
            from core.tasks.queue import get_task_queue

            self._queue = get_task_queue(self.settings)
        return self._queue

    @property
    def artifacts(self) -> ArtifactStore:
        if self._artifacts is None:
            from core.storage.backend import get_artifact_store

            self._artifacts = get_artifact_store(self.settings)
        return self._artifacts
