"""Database access: a lazily created engine and transactional sessions."""

from core.db.engine import (
    core_transaction,
    get_engine,
    reset_engine,
    session_factory,
    transaction,
    use_engine,
    use_sessions,
)
from core.db.options import custom_plan, then_commit

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
