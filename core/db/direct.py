"""The hottest statements run straight on the pooled DBAPI connection.

A sync execute sends two statements (core.runs.execution_rows: the checked start and the fenced
end). Through `Connection.execute`, SQLAlchemy builds an execution context, processes the
parameters, reads the result's metadata and wraps the rows for each: measured, more Python than
our dialect and pg8000 spend sending the statement and reading its answer. A `DirectStatement`
is compiled once for our dialect (its SQL, the order of its parameters and their bind
processors) and then only bound and sent (`core.db.dialect.execute_prepared`: a cached named
prepared statement, BEGIN and COMMIT in the same round trip), in the transaction of the
connection given. Errors come as SQLAlchemy's (`DBAPIError` with `.orig`), and a connection
found broken is invalidated, as `Connection.execute` would."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


@functools.lru_cache(maxsize=64)
def direct(statement: ClauseElement, dialect: Any) -> DirectStatement:
    """The statement compiled for this dialect, once (statements built once are its keys)."""
    return DirectStatement(statement, dialect)


class DirectStatement:
    def __init__(self, statement: ClauseElement, dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        assert compiled.positional
        assert compiled.positiontup is not None
        self.dialect = dialect
        self.sql = compiled.string
        self.names = list(compiled.positiontup)
        # a literal compared in the statement (status = 'running') is a parameter of its own
        self.literals = {
            name: bind.effective_value
            for name, bind in compiled.binds.items()
            if not bind.required and bind.callable is None
        }
        self.processors: list[Callable[[Any], Any] | None] = [
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in self.names
        ]

    def rows(
        self,
        connection: Connection,
        params: Mapping[str, Any],
        *,
        options: Mapping[str, Any] | None = None,
    ) -> list[tuple[Any, ...]]:
        """The statement's rows; `options` are its execution options (`then_commit()` ends the
        transaction with it, as through `Connection.execute`)."""
        from pg8000.exceptions import DatabaseError, InterfaceError

        from core.db.dialect import commit_to_send, execute_prepared

        given = {**self.literals, **params}
        values = [
            given[name] if process is None else process(given[name])
            for name, process in zip(self.names, self.processors, strict=True)
        ]
        if not connection.in_transaction():
            connection.begin()  # so that the connection's commit (or rollback) ends it
        dbapi = connection.connection.dbapi_connection
        assert dbapi is not None
        then = commit_to_send(
            options or {},
            autocommit=dbapi.autocommit,
            nested=connection.in_nested_transaction(),
        )
        cursor = dbapi.cursor()
        # the engine's listeners (a span per statement, the tests' statement counts) see it
        events = connection.dispatch
        observed = bool(events.before_cursor_execute or events.after_cursor_execute)
        context = SimpleNamespace()
        if observed:
            events.before_cursor_execute(connection, cursor, self.sql, values, context, False)
        try:
            execute_prepared(cursor, self.sql, values, then=then)
            return [tuple(row) for row in cursor.fetchall() or ()]
        except (DatabaseError, InterfaceError, OSError) as exc:
            broken = isinstance(exc, InterfaceError | OSError) or self.dialect.is_disconnect(
                exc, dbapi, cursor
            )
            if broken:
                connection.invalidate(exc)
            raise sa_exc.DBAPIError.instance(
                self.sql,
                values,
                exc,
                self.dialect.loaded_dbapi.Error,
                hide_parameters=connection.engine.hide_parameters,
                connection_invalidated=broken,
                dialect=self.dialect,
            ) from exc
        finally:
            if observed:
                events.after_cursor_execute(connection, cursor, self.sql, values, context, False)
