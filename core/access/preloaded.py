"""Rows read ahead of the service that needs them, kept in the request's session.

Authentication can read the row a route is about (its path names it) in the same query as the
caller's (core.http.routes, RouteGroup `preload`): one round trip instead of two. The row waits
here, strongly held (the session's identity map holds objects only weakly), for the service
that decides who may see it; nothing is granted by being preloaded."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")

_KEY = "core.preloaded"


def keep(db: Session, model: type[Any], key: Any, row: Any) -> None:
    db.info.setdefault(_KEY, {})[(model, key)] = row


def take(db: Session, model: type[T], key: Any) -> T | None:
    found: T | None = db.info.get(_KEY, {}).get((model, key))
    return found
