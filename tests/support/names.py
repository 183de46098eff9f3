"""Host names that resolve without DNS in a test: URLs name their hosts (the document and the
egress rules take names, never addresses), and the tests reach no network."""

from __future__ import annotations

from typing import Any

import pytest


def resolve_as(monkeypatch: pytest.MonkeyPatch, names: dict[str, str]) -> None:
    """`socket.getaddrinfo` answers each name with its address; every other host as before."""
    import socket

    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return real(names.get(host, host), port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
