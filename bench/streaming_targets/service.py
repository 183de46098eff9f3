"""The agents function as deployed, for bench/streaming.py: only Google's credentials are a
static token (the model endpoint is the local fake Vertex, VERTEX_BASE_URL)."""

from __future__ import annotations

from typing import Any

import google.auth

from tests.support.fake_vertex import fake_credentials


def _default(*args: Any, **kwargs: Any) -> tuple[Any, str]:
    return fake_credentials(), "proj"


google.auth.default = _default

from functions.agents.main import entry  # noqa: E402

__all__ = ["entry"]
