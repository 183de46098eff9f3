"""The caller a verified token or API key names, and their account.

A route with `auth="token"` hands its handler a `Caller`; the service reads the account (and
checks that the key still exists) in the statement that acts for the caller, or with
`account_of`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from core.access import preloaded
from core.auth.api_keys import live_key_clause
from core.errors import Unauthorized
from core.models.users import ApiKeyScope, User


@dataclass(frozen=True, slots=True)
class KeyUse:
    """The key a request presented (`Caller.key`)."""

    id: uuid.UUID
    scope: ApiKeyScope
    key_hash: bytes


_USER_BY_ID = select(User).where(User.id == bindparam("user_id"))
_USER_BY_KEY = _USER_BY_ID.where(live_key_clause())


def _user_by_id(keyed: bool) -> Select[Any]:
    return _USER_BY_KEY if keyed else _USER_BY_ID


_USER_WITH: dict[tuple[type[Any], bool], Select[Any]] = {}


def _user_with(model: type[Any], keyed: bool) -> Select[Any]:
    if (model, keyed) not in _USER_WITH:
        stmt = (
            select(User, model)
            .outerjoin(model, model.id == bindparam("also_id"))
            .where(User.id == bindparam("user_id"))
        )
        _USER_WITH[model, keyed] = stmt.where(live_key_clause()) if keyed else stmt
    return _USER_WITH[model, keyed]


@dataclass(frozen=True, slots=True)
class Caller:
    """Whom a verified access token (or API key) names, before anything was read about the
    account: what a route with `auth="token"` hands its handler. The service checks the account
    (and that the key still exists) in the statement that acts for the caller, or with
    `account_of`."""

    user_id: uuid.UUID
    key: KeyUse | None = None


def account_of(db: Session, caller: Caller, *, also: tuple[type[Any], Any] | None = None) -> User:
    """The caller's account, 401 when it is gone or deactivated, or its API key is. `also`
    (model, primary key) reads that row in the same query, whoever may see it: it only waits in
    the session (core.access.preloaded) for the service that decides."""
    params: dict[str, Any] = {"user_id": caller.user_id}
    if caller.key is not None:  # and the key still exists, unexpired
        params["key_hash"] = caller.key.key_hash
    keyed = caller.key is not None
    if also is None:
        user: User | None = db.execute(_user_by_id(keyed), params).scalar_one_or_none()
    else:
        model, key = also
        row = db.execute(_user_with(model, keyed), {**params, "also_id": key}).first()
        user = None if row is None else row[0]
        if row is not None and row[1] is not None:
            preloaded.keep(db, model, key, row[1])
    if user is None or not user.is_active:
        raise Unauthorized("invalid or expired token", code="invalid_token")
    return user
