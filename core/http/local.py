"""The local server's app: every route group under its prefix in one process, the merged
OpenAPI document and an interactive docs page."""

from __future__ import annotations

import importlib

from flask import Flask, Response, send_from_directory

from core.config import get_settings
from core.http.app import create_app, largest_body
from core.http.routes import RouteGroup

DOCS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Agents service API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui", persistAuthorization: true});</script>
</body></html>"""


def route_groups() -> list[RouteGroup]:
    from functions import GROUPS

    return [importlib.import_module(f"functions.{name}.main").routes for name in GROUPS]


def local_app(*, docs: bool = True) -> Flask:
    groups = route_groups()
    default = get_settings().max_body_bytes
    app = create_app(groups, serve_unprefixed=False, max_body_bytes=largest_body(groups, default))
    if docs:
        _add_docs(app)
    return app


def _add_docs(app: Flask) -> None:
    try:
        from swagger_ui_bundle import swagger_ui_path  # a dev dependency
    except ImportError:
        return

    def page() -> Response:
        return Response(DOCS_PAGE, mimetype="text/html")

    def static(filename: str) -> Response:
        return send_from_directory(swagger_ui_path, filename)

    app.add_url_rule("/docs", endpoint="docs", view_func=page)
    app.add_url_rule("/docs/static/<path:filename>", endpoint="docs_static", view_func=static)
