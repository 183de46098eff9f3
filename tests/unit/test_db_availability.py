"""Which errors mean the database cannot be reached (503, retried) and which are mistakes
(500): the classification the error mapping, the run engine and the worker share."""

from __future__ import annotations

import pytest
from pg8000 import dbapi
from sqlalchemy import exc as sa_exc

from core.db.availability import database_unavailable


def pg_error(code: str) -> dbapi.DatabaseError:
    return dbapi.ProgrammingError({"S": "FATAL", "C": code, "M": "..."})


def wrapped(orig: Exception, kind: type[sa_exc.DBAPIError] = sa_exc.ProgrammingError) -> Exception:
    return kind("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    "error",
    [
        wrapped(pg_error("57P03")),  # the database system is starting up / shutting down
        wrapped(pg_error("57P01")),  # terminating connection due to administrator command
        wrapped(pg_error("53300")),  # too many connections
        wrapped(pg_error("08006")),  # connection failure
        wrapped(dbapi.InterfaceError("network error"), sa_exc.InterfaceError),
        sa_exc.TimeoutError("QueuePool limit reached"),
    ],
)
def test_errors_of_a_database_that_cannot_serve_are_unavailable(error: Exception) -> None:
    assert database_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        wrapped(pg_error("42601")),  # a syntax error: a bug
        wrapped(pg_error("23505"), sa_exc.IntegrityError),  # a unique violation
        ConnectionResetError("a webhook receiver hung up"),  # not the database's socket
        ValueError("no"),
    ],
)
def test_mistakes_and_other_peers_errors_are_not(error: Exception) -> None:
    assert not database_unavailable(error)


def test_a_socket_error_the_driver_let_through_is_unavailable() -> None:
    """pg8000 lets a reset during its startup exchange through unwrapped."""
    import pg8000.core

    def connecting() -> None:
        raise ConnectionResetError(104, "Connection reset by peer")

    code = compile("connecting()", pg8000.core.__file__, "exec")
    with pytest.raises(ConnectionResetError) as raised:
        exec(code, {"__name__": "pg8000.core", "connecting": connecting})
    assert database_unavailable(raised.value)
