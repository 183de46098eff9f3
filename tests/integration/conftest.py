"""Fixtures shared by the integration tests."""

from tests.support.queues import queue, worker_headers  # noqa: F401 (fixtures)
