from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.config import Settings
from core.db.revision import SCHEMA_HEAD
from core.errors import RETRY_AFTER_S, Unavailable


def liveness(settings: Settings) -> dict[str, Any]:
    return {"status": "ok", "version": settings.service_version}


def readiness(db: Session, settings: Settings) -> dict[str, Any]:
    """Ready when the database answers and its schema is the one this code was written for."""
    try:
        revision = db.scalar(text("SELECT version_num FROM alembic_version"))
    except SQLAlchemyError:
        raise Unavailable(
            "the database does not answer or has no schema",
            code="not_ready",
            retry_after_s=RETRY_AFTER_S,
        ) from None
    if revision != SCHEMA_HEAD:
        raise Unavailable(
            f"database schema is at {revision}, this code needs {SCHEMA_HEAD}: run migrations",
            code="not_ready",
            retry_after_s=RETRY_AFTER_S,
        )
    return {"status": "ready", "version": settings.service_version, "schema_revision": revision}
