"""Cloud Function `console`: the web console (static files) on the API's own origin. Not part
of the API's OpenAPI document: it answers HTML, scripts and styles, not JSON."""

from __future__ import annotations

from flask import Response

from core.http import RouteGroup
from core.http.app import function_entry
from core.http.files import console_response
from core.services.console import console_file

routes = RouteGroup("console", description="the web console", documented=False)


@routes.get("", auth="none")
def page() -> Response:
    """The console's page."""
    return _answer("")


@routes.get("/<path:asset>", auth="none")
def asset(asset: str) -> Response:
    """A script, style or image of the page."""
    return _answer(asset)


def _answer(path: str) -> Response:
    return console_response(console_file(path))


entry = function_entry(lambda: routes)
