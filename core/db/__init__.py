"""Database access: a lazily created engine and transactional sessions."""

from core.db.engine import (
    commit_relaxed,
    get_engine,
    reset_engine,
    session_factory,
    transaction,
    use_engine,
    use_sessions,
)

__all__ = [
    "commit_relaxed",
    "get_engine",
    "reset_engine",
    "session_factory",
    "transaction",
    "use_engine",
    "use_sessions",
]
