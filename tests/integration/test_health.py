from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from core.db import use_sessions
from core.db.revision import SCHEMA_HEAD
from tests.integration.test_migrations import empty_database  # noqa: F401  (fixture)
from tests.support.api import assert_error


def test_health_is_public_and_names_the_version(client):
    body = client.get("/health").get_json()
    assert body == {"status": "ok", "version": "0.1.0"}


def test_ready_when_schema_is_at_head(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.get_json()["schema_revision"] == SCHEMA_HEAD


def test_not_ready_on_a_database_without_migrations(app, empty_database):  # noqa: F811
    use_sessions(sessionmaker(empty_database))
    assert_error(app.test_client().get("/health/ready"), 503, "not_ready")


def test_not_ready_when_schema_is_behind(client, db):
    db.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    db.flush()
    error = assert_error(client.get("/health/ready"), 503, "not_ready")
    assert "run migrations" in error["message"]
