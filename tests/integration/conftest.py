"""Fixtures shared by the integration tests."""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.queues import queue, worker_headers  # noqa: F401 (fixtures)


@pytest.fixture
def live(engine: Any, backends: Any) -> Any:
    """A client whose requests commit for real (parallel steps use several connections)."""
    from core.devserver import local_app

    return local_app(docs=False, backends=backends).test_client()


@pytest.fixture(scope="session")
def a2a_remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One a2a-sdk agent on 127.0.0.1 for the session (tests/support/a2a_remote.py): it knows
    the token A2A_TOKEN, and answers /moved with a redirect to its card under `localhost`."""
    from tests.support.a2a_remote import A2A_TOKEN, MOVED, serving

    with serving(tmp_path_factory.mktemp("a2a"), (A2A_TOKEN,), redirects=MOVED) as remote:
        yield remote
