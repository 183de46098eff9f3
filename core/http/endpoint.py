"""What a route declares: its handler, schemas, authentication and limits (core.http.routes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Literal

from pydantic import BaseModel

Handler = Callable[..., Any]
AuthMode = Literal["required", "optional", "none", "token"]
INJECTABLE = {
    "api_key",
    "db",
    "user",
    "caller",
    "settings",
    "backends",
    "now",
    "body",
    "query",
    "headers",
    "form",
    "upload",
}


KeyNeed = Literal["read", "execute", "full", "never"]


class NoBody(str):
    """A route's other success answered without a body (`responses={202: NoBody("…")}`); any
    other success a route lists answers its response model."""


@dataclass
class Endpoint:
    group: str
    prefix: str  # the group's URL path
    method: str
    rule: str
    handler: Handler
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: Any
    status: int
    auth: AuthMode
    summary: str
    max_body: int | Callable[[], int] | None
    responses: dict[int, str]
    wants: frozenset[str] = frozenset()
    list_fields: frozenset[str] = frozenset()
    # multipart/form-data routes: the non-file fields' schema and the one file field's name
    form: type[BaseModel] | None = None
    upload: str | None = None
    # (path parameter, ORM model): that row comes with the caller's, in the same query
    preload: tuple[str, type[Any]] | None = None
    # modules loaded (core.warmup) before the handler runs
    needs: tuple[str, ...] = ()
    # with `Accept: text/event-stream`, what the success answer streams instead (SSE)
    streams: str | None = None
    # the API key scope the route needs (None: read for GET, full otherwise); "never": no key
    keys: KeyNeed | None = None
    # the answer carries a secret (tokens, a key): never stored by a cache (no-store)
    secret: bool = False

    @property
    def key_need(self) -> KeyNeed:
        if self.keys is not None:
            return self.keys
        return "read" if self.method in ("GET", "HEAD") else "full"

    @property
    def name(self) -> str:
        return self.handler.__name__

    @property
    def max_body_bytes(self) -> int | None:
        """The body limit; a callable is asked each time (limits that come from settings)."""
        return self.max_body() if callable(self.max_body) else self.max_body

    @property
    def multipart(self) -> bool:
        return self.form is not None or self.upload is not None


@dataclass(frozen=True)
class Upload:
    """The file part of a multipart request (Werkzeug spools a large one to a temporary file).

    `filename` and `content_type` are what the client claims; `stream` is positioned at 0."""

    filename: str
    content_type: str | None
    stream: IO[bytes]
