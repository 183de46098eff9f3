"""Flask apps for one function (its group at /<group>/... and at /...) or for the local server
(every group under its prefix), and the functions-framework entry point that feeds them."""

from __future__ import annotations

import gc
import io
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask, Request, Response, request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from core.http import server_errors
from core.http.cors import install_cors
from core.http.errors import error_response, install_error_handlers
from core.http.routes import RouteGroup

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
) -> Flask:
    app = Flask("agents_service")
    app.config.update(MAX_CONTENT_LENGTH=max_body_bytes, JSON_SORT_KEYS=False)
    app.extensions["route_groups"] = list(groups)
    install_error_handlers(app)
    install_cors(app)
    from core.http.streams import release_unused_slot

    app.teardown_request(release_unused_slot)
    server_errors.install()

    @app.before_request
    def bound_body_reads() -> None:
        from core.config import get_settings

        server_errors.bound_body_reads(request.environ, get_settings().request_body_timeout_s)

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
    group_factory: Callable[[], RouteGroup],
) -> Callable[[Request], Response]:
    """A functions-framework HTTP target serving one route group. The Flask app is built on the
    first request (nothing heavy at import) and reused by every later one."""
    lock = threading.Lock()
    built: list[Flask] = []
    server_errors.install()  # before the first request: gunicorn may refuse that one
    if os.environ.get("K_SERVICE"):  # serving on Cloud Run (functions 2nd gen): warm up now
        from core.warmup import start

        start(group_factory().needs)

    def app() -> Flask:
        if not built:
            with lock:
                if not built:
                    from core.config import get_settings

                    if get_settings().log_format == "json":
                        from core.telemetry import configure_json_logging

                        configure_json_logging(get_settings())
                    group = group_factory()
                    _tune_collector()
                    default = get_settings().max_body_bytes
                    built.append(
                        create_app(
                            [group],
                            serve_unprefixed=True,
                            max_body_bytes=largest_body([group], default),
                            title=f"Agents service: {group.name}",
                        )
                    )
        return built[0]

    def entry(request: Request) -> Response:
        flask_app = app()
        limit = int(flask_app.config["MAX_CONTENT_LENGTH"])
        if request.content_length is not None and request.content_length > limit:
            # functions-framework drains the unread body after the response (read_request)
            return error_response(413, "payload_too_large", "request body too large")
        request.max_content_length = limit
        from core.config import get_settings

        server_errors.bound_body_reads(request.environ, get_settings().request_body_timeout_s)
        try:
            # read (and cache) the body before dispatching into our app: without it POSTs hang
            # under the dev server and fail in the test client
            data = request.get_data(cache=True)
        except RequestEntityTooLarge:
            return error_response(413, "payload_too_large", "request body too large")
        except (TimeoutError, ClientDisconnected):
            return error_response(408, "request_timeout", "the request body stopped arriving")
        environ: dict[str, Any] = dict(request.environ)
        environ["wsgi.input"] = io.BytesIO(data)
        environ["CONTENT_LENGTH"] = str(len(data))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        with flask_app.request_context(environ):
            return flask_app.full_dispatch_request()

    entry.__name__ = "entry"
    return entry
