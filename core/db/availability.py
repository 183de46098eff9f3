"""Whether an error means the database cannot be reached right now (a 503 to the caller, a
retry to the queue), as opposed to a mistake in what was asked of it (a bug: a 500)."""

from __future__ import annotations

from collections.abc import Iterator

# SQLSTATE classes and codes PostgreSQL answers when it cannot serve at all: connection
# exceptions (08), shutting down or starting up (57P01-57P03), too many connections (53300),
# insufficient resources (53), and its own system errors (58)
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "53", "58")


def database_unavailable(exc: BaseException) -> bool:
    """The database could not be reached or would not serve (any error in the chain)."""
    from sqlalchemy import exc as sa_exc

    for error in _chain(exc):
        if isinstance(error, sa_exc.TimeoutError | sa_exc.DisconnectionError):
            return True  # the pool waited in vain, or a connection was found dead
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return True
        if isinstance(error, sa_exc.InterfaceError | sa_exc.OperationalError):
            return True
        state = _sqlstate(error)
        if state is not None and state.startswith(_UNAVAILABLE_STATES):
            return True
        if type(error).__module__.startswith("pg8000") and type(error).__name__ in (
            "InterfaceError",
            "OperationalError",
        ):
            return True
        if isinstance(error, OSError) and _raised_by_the_driver(error):
            return True  # a socket error pg8000 let through (a reset while connecting)
    return False


def _raised_by_the_driver(error: BaseException) -> bool:
    traceback = error.__traceback__
    while traceback is not None:
        module = traceback.tb_frame.f_globals.get("__name__", "")
        if module.startswith(("pg8000", "sqlalchemy.pool", "sqlalchemy.engine")):
            return True
        traceback = traceback.tb_next
    return False


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        if isinstance(orig, BaseException) and id(orig) not in seen:
            yield orig
            seen.add(id(orig))
        current = current.__cause__ or current.__context__


def _sqlstate(error: BaseException) -> str | None:
    info = error.args[0] if error.args else None
    if isinstance(info, dict):
        code = info.get("C")
        return str(code) if code else None
    return None
