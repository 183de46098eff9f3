"""Typed SQLAlchemy models, one module per concept, all registered on `Base.metadata`.

Import the module you need (`core.models.users`); a function then maps only its own tables,
which keeps cold starts short. `all_models()` loads every module, for Alembic and schema tests.
"""

from __future__ import annotations

from sqlalchemy import MetaData


def all_models() -> MetaData:
    """Import every model module and return the complete metadata."""
    from core.models import (  # noqa: F401
        agents,
        credentials,
        evals,
        executions,
        knowledge,
        marketplace,
        memories,
        schedules,
        sessions,
        users,
    )
    from core.models.base import Base

    return Base.metadata
