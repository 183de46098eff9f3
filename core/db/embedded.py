"""The embedded PostgreSQL (pip package pgserver) used when no database is configured."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

_servers: dict[Path, Any] = {}


def start_embedded(data_dir: Path) -> Any:
    """Start (or attach to) the PostgreSQL server whose data lives in data_dir/pg.

    It stops when the last process holding it exits; call stop_embedded to stop it now.
    """
    pgdata = (data_dir / "pg").resolve()
    if pgdata not in _servers:
        pgdata.mkdir(parents=True, exist_ok=True)
        forget_dead_holders(pgdata)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            try:
                import pgserver
            except ImportError as exc:  # no wheel for this Python (pgserver ships 3.11/3.12)
                raise RuntimeError(
                    "the embedded PostgreSQL (pgserver) is not available on this Python; "
                    "set DATABASE_URL to a PostgreSQL server instead"
                ) from exc
            _servers[pgdata] = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    return _servers[pgdata]


def forget_dead_holders(pgdata: Path) -> list[int]:
    """pgserver stops the server when its last holder (a pid in .handle_pids.json) lets go. A
    holder killed with SIGKILL never lets go, and its pid would keep the server running after
    every later holder stopped: forget the pids of processes that are gone. Returns them."""
    import json

    holders = pgdata / ".handle_pids.json"
    try:
        pids = [int(pid) for pid in json.loads(holders.read_text())]
    except (OSError, ValueError, TypeError):
        return []
    dead = [pid for pid in pids if not _alive(pid)]
    if dead:
        holders.write_text(json.dumps([pid for pid in pids if pid not in dead]))
    return dead


def _alive(pid: int) -> bool:
    """A zombie (killed, not yet reaped: its parent died with it) holds nothing any more."""
    import psutil  # pgserver's own dependency

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # someone else's process we may not inspect: alive
        return True


def embedded_database_url(data_dir: Path, database: str = "postgres") -> str:
    server = start_embedded(data_dir)
    socket_dir = server.get_postmaster_info().socket_dir
    # the plain pg8000 driver: core.db.engine.pg8000_url turns it into the service's own
    return f"postgresql+pg8000://postgres@/{database}?unix_sock={socket_dir}/.s.PGSQL.5432"


def stop_embedded(data_dir: Path) -> None:
    server = _servers.pop((data_dir / "pg").resolve(), None)
    if server is not None:
        server.cleanup()
