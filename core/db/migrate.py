"""Run Alembic from code (the local server, the CLI and the tests). Imported only there:
request paths never load Alembic."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def include_object(
    thing: object, name: str | None, kind: str, reflected: bool, compare_to: object
) -> bool:
    """What autogenerate compares: all but pgvector's HNSW indexes, which exist only where the
    database has the extension (migration 0022) and so are in no model."""
    return not (kind == "index" and (name or "").startswith("ix_knowledge_chunks_embedding_"))


def upgrade_to_head(engine: Engine) -> None:
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def downgrade_to_base(engine: Engine) -> None:
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "base")


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head
