"""SQLAlchemy's pg8000 dialect with fewer round trips to PostgreSQL.

pg8000 (pure Python, required by the Cloud SQL connector) sends every statement that has
parameters as Parse, Describe, then Bind/Execute, each waiting for the server: three round trips,
plus one for the BEGIN it sends ahead of a transaction's first statement and three more for a
COMMIT. Under load every round trip also hands the GIL to another thread. This dialect:

* prepares each distinct statement once per connection (a bounded LRU of named prepared
  statements) and afterwards sends Bind/Execute/Sync only: one round trip;
* sends the BEGIN in the same write as the transaction's first statement;
* commits and rolls back with a simple query (one round trip), or sends the COMMIT with the
  transaction's last statement when that statement says so (`core.db.then_commit`);
* pings a pooled connection only when it has been idle for a while (`IDLE_PING_S`);
* parses timestamps with `datetime.fromisoformat` instead of pg8000's strptime;
* sends an executemany of an INSERT as multi-row INSERTs (SQLAlchemy's insertmanyvalues).

A prepared statement is planned by PostgreSQL's default rule (`plan_cache_mode = auto`): after
five executions it keeps a generic plan when that is no costlier, which cut the server's CPU for a
run's three statements by a third. A statement whose best plan depends on its values (a search
over skewed data) says so with `core.db.custom_plan()`: it travels as an unnamed statement
(Parse, Bind, Describe, Execute in one round trip) and is planned for its own parameters on every
execution. Errors are classified the same way whichever pg8000 connection class the pool holds
(the Cloud SQL connector hands out `pg8000.dbapi` connections, a URL gives `pg8000.legacy` ones):
class 23 is an IntegrityError.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pg8000.converters import make_params, timestamp_in, timestamptz_in
from pg8000.core import DESCRIBE, NULL_BYTE, PORTAL, SYNC_MSG, Context, _flush, _write
from pg8000.dbapi import IntegrityError, ProgrammingError, convert_paramstyle
from pg8000.exceptions import DatabaseError, InterfaceError
from sqlalchemy.dialects.postgresql.pg8000 import PGDialect_pg8000
from sqlalchemy.types import NullType

from core.db.options import COMMITS, CUSTOM_PLAN, THEN_COMMIT

# distinct statements kept prepared per connection; SQLAlchemy's statements are few, but
# expanded IN lists make new ones
STATEMENT_CACHE_SIZE = 256
# a connection used this recently is handed out without a ping
IDLE_PING_S = 10.0

_BEGIN = "begin transaction"
# the server forgot a prepared statement, or its result shape changed under it (a migration)
_STALE_STATEMENT_CODES = frozenset({"26000", "0A000"})


class _Prepared:
    __slots__ = ("columns", "input_funcs", "name", "sql")

    def __init__(self, name: bytes, columns: Any, input_funcs: Any, sql: str) -> None:
        self.name = name
        self.columns = columns
        self.input_funcs = input_funcs
        self.sql = sql


def _statements(conn: Any) -> OrderedDict[str, _Prepared]:
    cache: OrderedDict[str, _Prepared] | None = getattr(conn, "_core_prepared", None)
    if cache is None:
        cache = OrderedDict()
        conn._core_prepared = cache
    return cache


def _classified(exc: DatabaseError) -> Exception:
    """pg8000.legacy's classification, with all of class 23 as integrity errors."""
    info = exc.args[0] if exc.args else None
    code = str(info.get("C", "")) if isinstance(info, dict) else ""
    kind: type[Exception] = ProgrammingError
    if code.startswith("23"):
        kind = IntegrityError
    elif code == "28000":
        kind = InterfaceError
    return kind(*exc.args)


def execute_prepared(
    cursor: Any,
    statement: str,
    parameters: Sequence[Any],
    *,
    then: str | None = None,
    custom_plan: bool = False,
) -> None:
    """Run `statement` (format paramstyle) on a pg8000 cursor through a cached named prepared
    statement, with the transaction's BEGIN and, given `then` (a COMMIT), its end in the same
    round trip. A failed statement makes that COMMIT a rollback. With `custom_plan` the
    statement goes unnamed instead, planned for these parameters."""
    conn = cursor._c
    cache = _statements(conn)
    begin = not conn._in_transaction and not conn.autocommit
    prepared = None if custom_plan else cache.get(statement)
    try:
        if custom_plan:
            sql, _ = convert_paramstyle("format", statement, parameters)
            prepared = _Prepared(NULL_BYTE, None, (), sql)
        elif prepared is None:
            if begin:
                conn.execute_simple(_BEGIN)
                begin = False
            sql, _ = convert_paramstyle("format", statement, parameters)
            name, columns, input_funcs = conn.prepare_statement(sql, ())
            prepared = cache[statement] = _Prepared(name, columns, input_funcs, sql)
            if len(cache) > STATEMENT_CACHE_SIZE:
                _, oldest = cache.popitem(last=False)
                conn.close_prepared_statement(oldest.name)
        else:
            cache.move_to_end(statement)
        context = Context(
            statement=prepared.sql, columns=prepared.columns, input_funcs=prepared.input_funcs
        )
        params = make_params(conn.py_types, parameters)
        responses = [Context(_BEGIN)] if begin else []
        if begin:
            conn.send_QUERY(_BEGIN)
        if custom_plan:
            conn.send_PARSE(NULL_BYTE, prepared.sql, ())
        conn.send_BIND(prepared.name, params)
        if custom_plan:  # the row description arrives before the rows
            conn._send_message(DESCRIBE, PORTAL + NULL_BYTE)
        conn.send_EXECUTE()
        _write(conn._sock, SYNC_MSG)
        responses.append(context)
        if then is not None:
            conn.send_QUERY(then)
            responses.append(Context(then))
        _flush(conn._sock)
        failure: Exception | None = None
        for response in responses:  # every response is read, whatever failed before it
            try:
                conn.handle_messages(response)
            except (DatabaseError, InterfaceError) as exc:
                # after a failed statement its COMMIT reports "in failed transaction block"
                # (the server rolled back): the statement's own error is the one to raise
                failure = failure or exc
        if failure is not None:
            raise failure
    except AttributeError:
        if conn._sock is None:
            raise InterfaceError("connection is closed") from None
        raise
    except DatabaseError as exc:
        if isinstance(exc, (IntegrityError, InterfaceError, ProgrammingError)):
            raise
        info = exc.args[0] if exc.args else None
        if isinstance(info, dict) and info.get("C") in _STALE_STATEMENT_CODES:
            cache.pop(statement, None)
        raise _classified(exc) from None
    finally:
        conn._core_last_used = time.monotonic()
    cursor._context = context
    cursor._row_iter = iter(context.rows or ())
    cursor._input_oids = ()


def _unproxied(conn: Any) -> Any:
    """The pg8000 connection behind SQLAlchemy's pool proxies (attributes set on a proxy
    would stay on the proxy)."""
    return getattr(conn, "dbapi_connection", None) or conn


def _simple(conn: Any, statement: str) -> None:
    conn = _unproxied(conn)
    try:
        conn.execute_simple(statement)
    except DatabaseError as exc:
        raise _classified(exc) from None
    finally:
        conn._core_last_used = time.monotonic()


def _commit_after(cursor: Any, context: Any) -> str | None:
    if context is None:
        return None
    return commit_to_send(
        context.execution_options,
        autocommit=cursor._c.autocommit,
        nested=context.root_connection.in_nested_transaction(),
    )


def commit_to_send(options: Mapping[str, Any], *, autocommit: bool, nested: bool) -> str | None:
    """The COMMIT to send with a statement, when its `then_commit` execution option asks for
    one and this is a transaction of its own (not a savepoint, as in the tests)."""
    wanted = options.get(THEN_COMMIT)
    if wanted is None or autocommit or nested:
        return None
    return COMMITS[wanted]


_TIMESTAMP, _TIMESTAMPTZ = 1114, 1184


def _timestamptz_in(text: str) -> Any:
    """pg8000 parses timestamps with strptime, the costliest part of reading a row;
    fromisoformat reads PostgreSQL's ISO output (`2026-11-24 22:41:10.27+00`) several times
    faster. Anything else (infinity, BC dates) goes to pg8000's own parser."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return timestamptz_in(text)


def _timestamp_in(text: str) -> Any:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return timestamp_in(text)


class PreparedPG8000Dialect(PGDialect_pg8000):
    """See the module docstring. Registered as `postgresql+pg8000prepared`."""

    supports_statement_cache = True
    # an executemany of an INSERT becomes one multi-row INSERT (one round trip), as with RETURNING
    use_insertmanyvalues_wo_returning = True
    # pgvector's `vector` (knowledge_chunks.embedding where the extension is installed): opaque
    # here, as core.knowledge.search writes and compares it in SQL; known, so reflecting the
    # schema does not warn
    ischema_names = {**PGDialect_pg8000.ischema_names, "vector": NullType}

    def do_execute(self, cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        if (
            not parameters
            or isinstance(parameters, Mapping)
            or cursor._input_oids
            or not hasattr(cursor, "_c")
        ):
            super().do_execute(cursor, statement, parameters, context)  # type: ignore[no-untyped-call]
            return
        execute_prepared(
            cursor,
            statement,
            parameters,
            then=_commit_after(cursor, context),
            custom_plan=context is not None and bool(context.execution_options.get(CUSTOM_PLAN)),
        )

    def do_executemany(
        self, cursor: Any, statement: str, parameters: Any, context: Any = None
    ) -> None:
        rowcount = 0
        for params in parameters:
            self.do_execute(cursor, statement, params, context)
            rowcount += max(cursor.rowcount, 0)
        if cursor._context is not None:
            cursor._context.row_count = rowcount

    def do_commit(self, dbapi_connection: Any) -> None:
        # nothing to do when the last statement already committed (`then_commit`)
        if _unproxied(dbapi_connection)._in_transaction:
            _simple(dbapi_connection, "commit")

    def do_rollback(self, dbapi_connection: Any) -> None:
        if _unproxied(dbapi_connection)._in_transaction:
            _simple(dbapi_connection, "rollback")

    def do_ping(self, dbapi_connection: Any) -> bool:
        last_used = getattr(_unproxied(dbapi_connection), "_core_last_used", None)
        if last_used is not None and time.monotonic() - last_used < IDLE_PING_S:
            return True
        _simple(dbapi_connection, ";")
        return True

    def on_connect(self) -> Any:
        inherited = super().on_connect()  # type: ignore[no-untyped-call]

        def on_connect(conn: Any) -> None:
            if inherited is not None:
                inherited(conn)
            conn.register_in_adapter(_TIMESTAMPTZ, _timestamptz_in)
            conn.register_in_adapter(_TIMESTAMP, _timestamp_in)

        return on_connect


dialect = PreparedPG8000Dialect
