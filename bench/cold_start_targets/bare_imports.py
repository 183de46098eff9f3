"""Cold-start reference: exactly the third-party modules the auth function imports at load
(flask, sqlalchemy with its ORM and PostgreSQL dialect, pg8000, jwt, argon2, pydantic), and
nothing of the service itself. tests/unit/test_import_graph.py keeps this list in step with
functions/auth/main.py."""

from __future__ import annotations

import annotated_types  # noqa: F401  (pydantic loads it for Field constraints)
import argon2  # noqa: F401
import flask
import jwt  # noqa: F401
import pg8000  # noqa: F401
import pydantic  # noqa: F401
import sqlalchemy
import sqlalchemy.dialects.postgresql
import sqlalchemy.orm  # noqa: F401


def bare_imports(request: flask.Request) -> str:
    return "ok"
