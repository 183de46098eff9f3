"""The model a test's runs answer with, given to the Backends an app holds (not a process-wide
override): `with answering(client, FunctionModel(...)):` for the app a test client serves, or
`answering(backends, ...)` for Backends a test built."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.http.dispatch import BACKENDS
from core.runs.backends import Backends


def backends_of(target: Any) -> Backends:
    """The Backends of a Backends, a Flask app or a test client of one."""
    if isinstance(target, Backends):
        return target
    app = getattr(target, "application", target)
    backends: Backends = app.extensions[BACKENDS]
    return backends


@contextmanager
def answering(target: Any, model: Any) -> Iterator[Any]:
    backends = backends_of(target)
    previous, backends.model = backends.model, model
    try:
        yield model
    finally:
        backends.model = previous
