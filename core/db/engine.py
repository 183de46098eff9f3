"""The engine is created on first use, never at import: a function that never touches the
database never pays for a pool, and tests can point it elsewhere with use_engine()."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event
from sqlalchemy.dialects import registry
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from core.config import Settings, get_settings
from core.errors import ConfigError

if TYPE_CHECKING:
    from google.cloud.sql.connector import Connector

# our pg8000 dialect (core.db.dialect), loaded only when an engine is created
registry.register("postgresql.pg8000prepared", "core.db.dialect", "PreparedPG8000Dialect")
DRIVER = "postgresql+pg8000prepared"

_lock = threading.Lock()
_engine: Engine | None = None
_sessions: sessionmaker[Session] | None = None
_sessions_redirected = False
_connector: Connector | None = None


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                settings = get_settings()
                engine = build_engine(settings)
                if settings.trace_exporter != "none":
                    from core.telemetry import instrument_engine

                    instrument_engine(engine, settings)
                _engine = engine
    return _engine


def session_factory() -> sessionmaker[Session]:
    global _sessions
    if _sessions is None:
        _sessions = sessionmaker(get_engine(), expire_on_commit=False)
    return _sessions


@contextmanager
def transaction() -> Iterator[Session]:
    """One unit of work: commits when the block ends normally, rolls back on any error.

    A service may commit early on purpose (to keep a record of a failure it is about to raise);
    the session simply begins a new transaction afterwards."""
    session = session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def core_transaction() -> Iterator[Session | Connection]:
    """A unit of work of Core statements only (no ORM objects): a plain Connection, which
    costs a good deal less than a Session around each statement. Where sessions are
    redirected (`use_sessions`, as the tests' rolled-back transaction), a session of theirs."""
    if _sessions_redirected:
        with transaction() as session:
            yield session
        return
    with get_engine().connect() as connection:
        try:
            yield connection
            connection.commit()
        except BaseException:
            connection.rollback()
            raise


def use_sessions(factory: sessionmaker[Session] | None) -> None:
    """Make every unit of work come from this factory (tests bind it to one connection whose
    outer transaction they roll back)."""
    global _sessions, _sessions_redirected
    _sessions = factory
    _sessions_redirected = factory is not None


def use_engine(engine: Engine | None) -> None:
    """Swap the process-wide engine (tests and the local server); None forgets it."""
    global _engine, _sessions, _sessions_redirected
    with _lock:
        _engine = engine
        _sessions = None
        _sessions_redirected = False


def reset_engine() -> None:
    global _connector
    if _engine is not None:
        _engine.dispose()
    use_engine(None)
    if _connector is not None:
        _connector.close()
        _connector = None


def build_engine(settings: Settings) -> Engine:
    engine = _engine_for(settings)
    event.listen(engine, "connect", _quota_defaults(settings))
    return engine


def _quota_defaults(settings: Settings) -> Any:
    """The service's quotas as session settings of each new connection: the trigger that
    starts a run reads them (migration 0012), at no cost per request."""
    values = {
        "agents.max_concurrent_runs": settings.user_max_concurrent_runs,
        "agents.daily_tokens": settings.user_daily_tokens,
        "agents.daily_cost_usd": settings.user_daily_cost_usd,
    }

    calls = ", ".join("set_config(%s, %s, false)" for _ in values)
    params = tuple(item for name, value in values.items() for item in (name, _text(value)))

    def connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SELECT {calls}", params)
        cursor.close()
        # the driver opened a transaction for it: a connection must not start its life inside
        # one (the notice listener's LISTEN would wait for a COMMIT that never comes)
        dbapi_connection.commit()

    return connect


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _engine_for(settings: Settings) -> Engine:
    pool: dict[str, Any] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_pre_ping": True,
        "pool_recycle": settings.db_pool_recycle_s,
        "pool_timeout": settings.db_pool_timeout_s,
        # an error names its statement, never the values sent with it (they reach the logs)
        "hide_parameters": True,
    }
    if settings.database_url:
        url, connect_args = tls_of(pg8000_url(settings.database_url))
        return create_engine(url, connect_args=connect_args, **pool)
    if settings.instance_connection_name:
        return create_engine(f"{DRIVER}://", creator=_cloud_sql_creator(settings), **pool)
    from core.db.embedded import embedded_database_url

    return create_engine(pg8000_url(embedded_database_url(settings.data_dir)), **pool)


TLS_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def tls_of(url: str) -> tuple[str, dict[str, Any]]:
    """libpq's `sslmode` (and `sslrootcert`) in a URL as pg8000's `ssl_context`: `require`
    encrypts without checking the server's certificate, `verify-ca` checks it against the
    system's or `sslrootcert`'s authorities, `verify-full` also checks the host name. `disable`,
    `allow` and `prefer` connect in the clear (pg8000 does not negotiate)."""
    parsed = make_url(url)
    query = dict(parsed.query)
    mode = str(query.pop("sslmode", "disable"))
    root = query.pop("sslrootcert", None)
    if mode not in TLS_MODES:
        raise ConfigError(f"DATABASE_URL: sslmode must be one of {', '.join(TLS_MODES)}")
    stripped = parsed.set(query=query).render_as_string(hide_password=False)
    if mode in ("disable", "allow", "prefer"):
        return stripped, {}
    import ssl

    context = ssl.create_default_context(cafile=str(root) if root else None)
    if mode == "require":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif mode == "verify-ca":
        context.check_hostname = False
    return stripped, {"ssl_context": context}


def pg8000_url(url: str) -> str:
    """Accept the usual postgres:// spellings and pin our pg8000 dialect."""
    for prefix in (f"{DRIVER}://", "postgresql+pg8000://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return f"{DRIVER}://" + url[len(prefix) :]
    return url


def _cloud_sql_creator(settings: Settings) -> Any:
    def connect() -> Any:
        global _connector
        if _connector is None:
            with _lock:
                if _connector is None:
                    # The Connector asks for Google credentials in its constructor: build it on
                    # the first connection, never at import or engine creation.
                    from google.cloud.sql.connector import Connector, IPTypes

                    _connector = Connector(
                        ip_type=IPTypes[settings.db_ip_type.upper()], refresh_strategy="lazy"
                    )
        assert settings.instance_connection_name is not None
        return _connector.connect(
            settings.instance_connection_name,
            "pg8000",
            user=settings.db_user,
            password=(settings.db_password.get_secret_value() if settings.db_password else None),
            db=settings.db_name,
            enable_iam_auth=settings.db_iam_auth,
        )

    return connect
