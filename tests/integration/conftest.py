"""Fixtures shared by the integration tests."""

from typing import Any

import pytest

from tests.support.queues import queue, worker_headers  # noqa: F401 (fixtures)


@pytest.fixture
def live(engine: Any, backends: Any) -> Any:
    """A client whose requests commit for real (parallel steps use several connections)."""
    from core.devserver import local_app

    return local_app(docs=False, backends=backends).test_client()
