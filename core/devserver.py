"""`make dev`: the whole service in one process on the embedded defaults.

Starts the embedded PostgreSQL under .data/ unless DATABASE_URL is set, migrates it to head,
and serves every route group on http://127.0.0.1:$PORT: the function groups of functions/ under
their prefixes in one app (`local_app`, also the tests' app), with the merged OpenAPI document
and an interactive docs page, behind the ASGI front every function uses (core.http.asgi, under
uvicorn: $THREADS request threads, streams on the event loop). Once it serves, the runs of a
server it replaces are taken over, the agent runtime loads in the background and the sweeper
ticks in-process (once at start, then every SWEEP_INTERVAL_S), so no run stays queued or
running after a crash. Ctrl-C stops the server and the embedded database."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import threading
import time
from typing import Any

from flask import Flask, Response, send_from_directory

from core.config import Settings, get_settings, reset_settings
from core.errors import ConfigError
from core.http.app import create_app, largest_body
from core.http.routes import RouteGroup
from core.runs.backends import Backends
from core.services.worker import STALE_QUEUED_S

DOCS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Agents service API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>"""
# the token a user types into "Authorize" stays in the page's memory, never in localStorage
DOCS_INIT = 'SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui", persistAuthorization: false});\n'
# scripts and styles from this origin only (Swagger UI styles elements inline); never framed
DOCS_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def route_groups() -> list[RouteGroup]:
    from functions import GROUPS

    return [importlib.import_module(f"functions.{name}.main").routes for name in GROUPS]


def local_app(*, docs: bool = True, backends: Backends | None = None) -> Flask:
    """Every group under its prefix; `backends`: what handlers are given (tests give fakes)."""
    groups = route_groups()
    default = get_settings().max_body_bytes
    app = create_app(
        groups,
        serve_unprefixed=False,
        max_body_bytes=largest_body(groups, default),
        backends=backends,
    )
    if docs:
        _add_docs(app)
    return app


def _add_docs(app: Flask) -> None:
    try:
        from swagger_ui_bundle import swagger_ui_path  # a dev dependency
    except ImportError:
        return

    def page() -> Response:
        return Response(DOCS_PAGE, mimetype="text/html", headers=DOCS_HEADERS)

    def init() -> Response:
        return Response(DOCS_INIT, mimetype="text/javascript", headers=DOCS_HEADERS)

    def static(filename: str) -> Response:
        response = send_from_directory(swagger_ui_path, filename)
        response.headers.update(DOCS_HEADERS)
        return response

    app.add_url_rule("/docs", endpoint="docs", view_func=page)
    app.add_url_rule("/docs/init.js", endpoint="docs_init", view_func=init)
    app.add_url_rule("/docs/static/<path:filename>", endpoint="docs_static", view_func=static)


def prepare_database() -> str | None:
    """Point DATABASE_URL at the embedded server when nothing is configured; migrate to head.
    Returns the embedded data directory's URL when it started one."""
    from core.cli import migrate
    from core.db import reset_engine

    settings = get_settings()
    started = None
    if not settings.database_url and not settings.instance_connection_name:
        from core.db.embedded import embedded_database_url

        started = embedded_database_url(settings.data_dir)
        os.environ["DATABASE_URL"] = started
        reset_settings()
    migrate()
    reset_engine()  # the migration's pool goes; the server opens its own on first use
    return started


def serve(host: str, port: int, threads: int) -> None:
    import uvicorn

    from core.http.asgi import AsgiFront
    from core.tasks.queue import set_local_worker_base_url

    # asynchronous runs: the in-process dispatcher POSTs tasks back to this very server
    reachable = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 (a comparison)
    set_local_worker_base_url(f"http://{reachable}:{port}")
    app = local_app()
    front = AsgiFront(
        app,
        threads=threads,
        max_body_bytes=int(app.config["MAX_CONTENT_LENGTH"]),
        body_timeout_s=get_settings().request_body_timeout_s,
        on_startup=_serving,
    )
    access_log = os.environ.get("ACCESS_LOG", "-") not in ("", "/dev/null")
    config = uvicorn.Config(
        front,
        host=host,
        port=port,
        http="h11",
        lifespan="on",
        log_config=None,  # the process's own logging (main)
        access_log=access_log,
        # a request head up to 64 KiB reaches the front, which answers 414/431 in the error body
        h11_max_incomplete_event_size=64 * 1024,
        backlog=4096,
        # Ctrl-C: open streams are cut after this long; what runs is resumed by the next sweep
        timeout_graceful_shutdown=5,
    )
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn raises Ctrl-C again once it stopped
        uvicorn.Server(config).run()


def _serving() -> None:
    """The worker serves: end the leases of the `make dev` it replaces (if that one died), load
    the agent runtime in the background and start sweeping."""
    from core.warmup import start

    settings = get_settings()
    try:
        freed = reclaim_predecessors(settings)
        if freed:
            logging.getLogger("core.devserver").info(
                "took over %d runs of a server that died", freed
            )
    except Exception:  # the sweeper still takes them over once their leases run out
        logging.getLogger("core.devserver").exception("could not take over dead servers' runs")
    start(name for group in route_groups() for name in group.needs)
    start_sweeper(settings)


HOLDERS_DIR = "lease-holders"


def reclaim_predecessors(settings: Settings) -> int:
    """Each local server process writes its lease-holder name under DATA_DIR/lease-holders;
    at start, the leases of those whose process is gone (a kill -9, a crash) end at once, so
    the first sweep hands their runs on instead of waiting out EXECUTION_LEASE_S. A server
    still running keeps its own. Returns how many runs were freed."""
    import json

    from core.clock import utcnow
    from core.db import transaction
    from core.runs.leases import end_leases_of, lease_holder

    directory = settings.data_dir / HOLDERS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    dead: list[tuple[str, Any]] = []
    for record in directory.glob("*.json"):
        try:
            known = json.loads(record.read_text())
            holder, pid, started = known["holder"], int(known["pid"]), float(known["started"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not _same_process_alive(pid, started):
            dead.append((holder, record))
    with transaction() as db:
        freed = end_leases_of(db, [holder for holder, _ in dead], utcnow())
    for _, record in dead:
        record.unlink(missing_ok=True)
    me = lease_holder()
    (directory / f"{os.getpid()}.json").write_text(
        json.dumps({"holder": me, "pid": os.getpid(), "started": _started(os.getpid())})
    )
    return freed


def _started(pid: int) -> float:
    import psutil  # the embedded PostgreSQL's dependency, there wherever `make dev` runs

    return float(psutil.Process(pid).create_time())


def _same_process_alive(pid: int, started: float) -> bool:
    """Alive, and the process that wrote the record (not another one given its pid since)."""
    import psutil

    try:
        process = psutil.Process(pid)
        return bool(
            process.status() != psutil.STATUS_ZOMBIE and abs(process.create_time() - started) < 1.0
        )
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # someone else's process we may not inspect: alive
        return True


def start_sweeper(settings: Settings) -> threading.Thread:
    """What Cloud Scheduler does in production, in-process: sweep once now and then every
    SWEEP_INTERVAL_S. The first sweep also re-enqueues every queued run at once: the local
    dispatcher's queue lived in the memory of the process before this one."""
    from core.runs.backends import Backends
    from core.services.worker import sweep

    def tick() -> None:
        queued_after_s = 0.0
        while True:
            try:
                counts = sweep(Backends(settings), queued_after_s=queued_after_s)
                queued_after_s = STALE_QUEUED_S
                if counts["requeued"] or counts["failed"] or counts["cancelled"]:
                    logging.getLogger("core.sweeper").info("swept: %s", counts)
            except Exception:  # a database restart must not end the sweeping
                logging.getLogger("core.sweeper").exception("the sweep failed; trying again")
            time.sleep(settings.sweep_interval_s)

    thread = threading.Thread(target=tick, name="sweeper", daemon=True)
    thread.start()
    return thread


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("pgserver", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = get_settings()
    except ConfigError as exc:
        sys.exit(f"configuration error: {exc}")
    embedded = prepare_database()
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8080"))
    where = (
        "embedded PostgreSQL in " + str(settings.data_dir / "pg") if embedded else "DATABASE_URL"
    )
    print(
        f"Agents service on http://{host}:{port}  (docs: http://{host}:{port}/docs; "
        f"database: {where}; Ctrl-C stops)",
        flush=True,
    )
    try:
        serve(host, port, threads=int(os.environ.get("THREADS", "8")))
    finally:
        if embedded:
            from core.db.embedded import stop_embedded

            stop_embedded(settings.data_dir)
            print("stopped the embedded PostgreSQL", flush=True)


if __name__ == "__main__":
    main()
