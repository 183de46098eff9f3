"""Cold-start reference with the narrower list the Foundation issue names (flask, sqlalchemy's
core, pg8000, jwt, argon2): without the ORM and pydantic, which the service's design requires."""

from __future__ import annotations

import argon2  # noqa: F401
import flask
import jwt  # noqa: F401
import pg8000  # noqa: F401
import sqlalchemy  # noqa: F401


def bare_minimal(request: flask.Request) -> str:
    return "ok"
