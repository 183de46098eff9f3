"""Shared Flask glue: route groups with schema-driven parsing, the one error mapper, the
functions-framework entry point and OpenAPI generation. The only part of core that knows Flask."""

from core.http.routes import RouteGroup
from core.replies import Reply

__all__ = ["Reply", "RouteGroup"]
