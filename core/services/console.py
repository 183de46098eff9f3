"""The web console's built files (console/, a Vite bundle): where they are and how each is
answered. A deployed `console` function has them in console_dist/ beside its core package
(scripts/stage_functions.py puts them there); a checkout has them in console/dist once built
(`make dev` builds them when missing or stale)."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

from core.errors import NotFound, Unavailable

_BESIDE_CORE = Path(__file__).resolve().parents[2]
PLACES = (_BESIDE_CORE / "console_dist", _BESIDE_CORE / "console" / "dist")
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class ConsoleFile:
    body: bytes
    content_type: str
    page: bool  # the page itself (it may change); else an asset named by its content hash


def built_dir() -> Path | None:
    return next((place for place in PLACES if (place / "index.html").is_file()), None)


def console_file(path: str) -> ConsoleFile:
    """The page ("" or index.html) or one of its assets; 404 for anything else."""
    root = built_dir()
    if root is None:
        raise Unavailable(
            "the console is not built: `make dev` builds it (Node.js 20 needed), or run "
            "`npm --prefix console ci && npm --prefix console run build`",
            code="console_not_built",
        )
    wanted = (root / (path or "index.html")).resolve()
    if not wanted.is_relative_to(root.resolve()) or not wanted.is_file():
        raise NotFound("nothing is found at this path", code="not_found")
    page = wanted.name == "index.html"
    kind = _TYPES.get(wanted.suffix) or mimetypes.guess_type(wanted.name)[0]
    return ConsoleFile(wanted.read_bytes(), kind or "application/octet-stream", page)
