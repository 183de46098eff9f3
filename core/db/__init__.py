"""Database access: a lazily created engine and transactional sessions."""

from core.db.engine import (
    core_transaction,
    custom_plan,
    get_engine,
    reset_engine,
    session_factory,
    then_commit,
    transaction,
    use_engine,
    use_sessions,
)

__all__ = [
    "core_transaction",
    "custom_plan",
    "get_engine",
    "reset_engine",
    "session_factory",
    "then_commit",
    "transaction",
    "use_engine",
    "use_sessions",
]
