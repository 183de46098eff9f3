"""Loading the heavy SDKs once per process, under one lock.

Two threads importing one package at once can see each other's half-initialised modules
(pydantic_ai's modules import each other: `ImportError: cannot import name ... from partially
initialized module`), and a request that saw that answered 500. So code that needs an SDK asks
`load(...)` first: the first caller imports under the lock while the others wait for it; once
loaded it costs a set lookup. A serving process starts loading what its route groups need in the
background as soon as it serves (`start`), so the first run rarely waits for the import, and
requests that do not need an SDK (health, auth) never wait at all."""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Iterable

log = logging.getLogger(__name__)

_lock = threading.Lock()
_loaded: set[str] = set()


def load(modules: Iterable[str]) -> None:
    """Import `modules` unless this process did already; concurrent callers wait for the one
    that imports."""
    missing = [name for name in modules if name not in _loaded]
    if not missing:
        return
    with _lock:
        for name in missing:
            if name not in _loaded:
                importlib.import_module(name)
                _loaded.add(name)


def start(modules: Iterable[str]) -> threading.Thread | None:
    """Load `modules` on a background thread (a serving process, right after it starts)."""
    wanted = tuple(dict.fromkeys(modules))
    if not wanted:
        return None

    def run() -> None:
        began = time.perf_counter()
        try:
            load(wanted)
        except Exception:  # the first request that needs them imports again and reports it
            log.exception("loading %s in the background failed", ", ".join(wanted))
            return
        log.info("loaded %d modules in %.0f ms", len(wanted), (time.perf_counter() - began) * 1000)

    thread = threading.Thread(target=run, name="warmup", daemon=True)
    thread.start()
    return thread
