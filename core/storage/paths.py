"""Validation of the relative paths a model passes to the file tools.

A path is refused rather than repaired whenever it could mean something else to another layer
(a shell, a URL decoder, Windows, an object store): the model gets a clear message and retries."""

from __future__ import annotations

import re
import unicodedata

MAX_PATH_BYTES = 1024
MAX_COMPONENT_BYTES = 255

_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_DRIVE_PREFIX = re.compile(r"^[A-Za-z]:")


class PathRefused(ValueError):
    """A path that may not be used; the message is safe to show to a model."""


def normalize_path(raw: str) -> str:
    """Return `raw` as a clean relative POSIX path ("" for the root), or raise PathRefused.

    Empty and "." components are dropped; everything that could escape the root or be decoded
    into something else is refused."""
    if not isinstance(raw, str):
        raise PathRefused("path must be a string")
    _check_form(raw, raw)
    # A later layer (an object store, a filesystem) might apply compatibility normalisation:
    # what it would see must pass the same checks.
    folded = unicodedata.normalize("NFKC", raw)
    if folded != raw:
        _check_form(folded, raw)

    parts = [part for part in raw.split("/") if part not in ("", ".")]
    for part in parts:
        if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            raise PathRefused(
                f"path component too long (more than {MAX_COMPONENT_BYTES} bytes): "
                f"{_preview(part)!r}"
            )
    return "/".join(parts)


def _check_form(candidate: str, raw: str) -> None:
    shown = _preview(raw)
    for char in candidate:
        if unicodedata.category(char) == "Cc":
            raise PathRefused(f"path contains a control character (NUL, newline, ...): {shown!r}")
    try:
        size = len(candidate.encode("utf-8"))
    except UnicodeEncodeError:
        raise PathRefused(f"path is not valid Unicode text: {shown!r}") from None
    if size > MAX_PATH_BYTES:
        raise PathRefused(f"path too long ({size} bytes, the limit is {MAX_PATH_BYTES})")
    if "\\" in candidate:
        raise PathRefused(f"path contains a backslash; use '/' between components: {shown!r}")
    if candidate.startswith("/") or _DRIVE_PREFIX.match(candidate):
        raise PathRefused(f"absolute paths are not allowed; give a relative path: {shown!r}")
    if candidate.startswith("~"):
        raise PathRefused(f"'~' is not expanded; give a path relative to the root: {shown!r}")
    if _PERCENT_ESCAPE.search(candidate):
        raise PathRefused(f"percent-encoded paths are not decoded; write it plainly: {shown!r}")
    if ".." in candidate.split("/"):
        raise PathRefused(f"'..' is not allowed in a path: {shown!r}")


def _preview(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
