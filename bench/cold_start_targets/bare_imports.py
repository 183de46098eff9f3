"""Cold-start reference: exactly the third-party modules the auth function imports at load
(flask, sqlalchemy with its ORM and PostgreSQL dialect, pg8000, jwt, argon2, pydantic, and
functions-framework's ASGI mode with starlette), served the way the functions are (an ASGI
target), and nothing of the service itself. tests/unit/test_import_graph.py keeps this list in
step with functions/auth/main.py."""

from __future__ import annotations

import annotated_types  # noqa: F401  (pydantic loads it for Field constraints)
import argon2  # noqa: F401
import flask  # noqa: F401
import functions_framework.aio
import jwt  # noqa: F401
import pg8000  # noqa: F401
import pydantic  # noqa: F401
import sqlalchemy
import sqlalchemy.dialects.postgresql
import sqlalchemy.orm  # noqa: F401


@functions_framework.aio.http
async def bare_imports(request: object) -> str:
    return "ok"
