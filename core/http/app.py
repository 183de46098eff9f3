"""Flask apps for one function (its groups at /<group>/... and at /...) or for the local server
(every group under its prefix), and the functions-framework entry point that serves them
behind the ASGI front."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from flask import Flask, Response

from core.http.asgi import AsgiFront
from core.http.cors import install_cors
from core.http.dispatch import BACKENDS
from core.http.errors import install_error_handlers
from core.http.routes import RouteGroup
from core.http.security_headers import install_security_headers
from core.lazy import Lazy

if TYPE_CHECKING:
    from core.runs.backends import Backends

DEFAULT_MAX_BODY = 1024 * 1024
# a request allocates thousands of container objects that die young (their reference counts
# free them); at the default threshold (700) the cyclic collector ran every fourth request
GC_YOUNG_THRESHOLD = 7000


def create_app(
    groups: Sequence[RouteGroup],
    *,
    serve_unprefixed: bool,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    title: str = "Agents service",
    backends: Backends | None = None,
) -> Flask:
    """`backends`: what every handler that asks is given (None: the process's own, made on the
    first request that needs them)."""
    app = Flask("agents_service")
    app.config.update(MAX_CONTENT_LENGTH=max_body_bytes, JSON_SORT_KEYS=False)
    app.extensions["route_groups"] = list(groups)
    app.extensions[BACKENDS] = backends or _process_backends()
    install_error_handlers(app)
    install_cors(app)
    install_security_headers(app)
    from core.http.streams import release_unused_slot

    app.teardown_request(release_unused_slot)

    for group in groups:
        group.mount(app, group.path)
        if serve_unprefixed:
            group.mount(app, "")

    def openapi() -> Response:
        from core.http.openapi import openapi_json

        return Response(openapi_json(groups, title=title), mimetype="application/json")

    app.add_url_rule("/openapi.json", endpoint="openapi", view_func=openapi)
    if serve_unprefixed:
        for group in groups:
            app.add_url_rule(
                f"{group.path}/openapi.json", endpoint=f"openapi:{group.name}", view_func=openapi
            )
    return app


def _process_backends() -> Backends:
    """The process's own: PostgreSQL, the configured queue and store, the settings of the
    moment."""
    from core.runs.backends import Backends

    return Backends()


def _tune_collector() -> None:
    """For a serving process: what is loaded by now lives as long as the process, so full
    collections stop walking it (one took ~80 ms every few thousand requests), and young
    collections run a tenth as often."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def largest_body(groups: Sequence[RouteGroup], default: int) -> int:
    limits = [e.max_body_bytes or default for g in groups for e in g.endpoints]
    return max([default, *limits])


def function_entry(
    groups: Callable[[], RouteGroup | Sequence[RouteGroup]],
) -> Callable[[Any], Awaitable[Any]]:
    """A functions-framework target serving route groups (each at /<group>/... and at /...),
    in functions-framework's ASGI mode behind the same front as `make dev` (core.http.asgi):
    THREADS request threads, streams on the event loop. The app is built on the first request
    (nothing heavy at import, and not on the loop) and reused by every later one."""
    import functions_framework.aio  # registers the target as ASGI

    def build() -> AsgiFront:
        from core.config import get_settings

        settings = get_settings()
        if settings.log_format == "json":
            from core.telemetry import configure_json_logging

            configure_json_logging(settings)
        made = groups()
        served = [made] if isinstance(made, RouteGroup) else list(made)
        _tune_collector()
        app = create_app(
            served,
            serve_unprefixed=True,
            max_body_bytes=largest_body(served, settings.max_body_bytes),
            title="Agents service: " + ", ".join(group.name for group in served),
        )
        return AsgiFront(
            app,
            threads=int(os.environ.get("THREADS") or DEFAULT_THREADS),
            max_body_bytes=int(app.config["MAX_CONTENT_LENGTH"]),
            body_timeout_s=settings.request_body_timeout_s,
        )

    front = Lazy(build)
    if os.environ.get("K_SERVICE"):  # serving on Cloud Run (functions 2nd gen): warm up now
        from core.warmup import start

        made = groups()
        start(
            name
            for group in ([made] if isinstance(made, RouteGroup) else made)
            for name in group.needs
        )

    async def entry(request: Any) -> Any:
        built = front.made()
        if built is None:  # the first request builds it, off the event loop
            built = await asyncio.get_running_loop().run_in_executor(None, front.get)
        return Served(built)

    entry.__name__ = "entry"
    functions_framework.aio.http(entry)  # registered by its name, "entry"
    return entry


DEFAULT_THREADS = 8


class Served:
    """What the target answers functions-framework's Starlette route: it calls this as a
    response with the request's scope, receive and send, and the front serves it."""

    def __init__(self, front: AsgiFront) -> None:
        self.front = front

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.front(scope, receive, send)
