"""API keys: made, listed and deleted by their user (never with a key), and resolved when a
request presents one.

A key presented is looked up once per instance and remembered (its user, scope and expiry);
what it may do is then checked for every request in the query that reads the caller's account,
or in the statement that starts a run, which also ask whether the key still exists: deleting
a key takes effect on the next request, on every instance, at no extra round trip. `last_used_at`
is written at most once a minute per key and instance."""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core.access.callers import KeyUse
from core.auth.api_keys import key_hash, new_key, well_formed
from core.errors import Forbidden, NotFound, Unauthorized
from core.models.users import ApiKey, ApiKeyScope, User
from core.pagination import Keyset, Page
from core.schemas.api_keys import ApiKeyCreate, ApiKeyCreated
from core.schemas.common import PageQuery

API_KEYS_ORDER = Keyset((ApiKey.created_at, ApiKey.id), descending=True)
LAST_USED_EVERY_S = 60.0
# what each scope may do, weakest first (core.http.dispatch compares an endpoint's need)
SCOPE_RANK = {ApiKeyScope.read: 0, ApiKeyScope.execute: 1, ApiKeyScope.full: 2}


def create_key(db: Session, *, user: User, data: ApiKeyCreate, now: datetime) -> dict[str, Any]:
    """A new key of the caller's, with its whole value: the only time it is shown."""
    key, prefix = new_key()
    row = ApiKey(
        id=uuid.uuid4(),
        user_id=user.id,
        name=data.name,
        scope=ApiKeyScope(data.scope),
        prefix=prefix,
        key_hash=key_hash(key),
        created_at=now,
        expires_at=None
        if data.expires_in_days is None
        else now + timedelta(days=data.expires_in_days),
    )
    db.add(row)
    db.flush()
    return {
        "key": key,
        **{name: getattr(row, name) for name in ApiKeyCreated.model_fields if name != "key"},
    }


def list_keys(db: Session, *, user: User, query: PageQuery) -> Page[ApiKey]:
    stmt = select(ApiKey).where(ApiKey.user_id == user.id)
    return API_KEYS_ORDER.fetch(db, stmt, query.cursor, query.limit)


def delete_key(db: Session, *, user: User, key_id: uuid.UUID) -> None:
    """Revoke: the next request with it is refused, on every instance."""
    deleted = db.execute(
        delete(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user.id).returning(ApiKey.id)
    ).first()
    if deleted is None:
        raise NotFound("no such API key", code="api_key_not_found")


def refuse_key_management(key: KeyUse | None) -> None:
    if key is not None:
        raise Forbidden(
            "an API key cannot manage API keys or the password; sign in", code="api_key_forbidden"
        )


@dataclass(frozen=True, slots=True)
class _Known:
    use: KeyUse
    user_id: uuid.UUID
    expires_at: datetime | None


class _KnownKeys:
    """The keys this instance has seen (least recently used forgotten first)."""

    MAX = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: OrderedDict[bytes, _Known] = OrderedDict()
        self._bumped: dict[uuid.UUID, float] = {}

    def get(self, digest: bytes) -> _Known | None:
        with self._lock:
            known = self._keys.get(digest)
            if known is not None:
                self._keys.move_to_end(digest)
            return known

    def put(self, digest: bytes, known: _Known) -> None:
        with self._lock:
            self._keys[digest] = known
            while len(self._keys) > self.MAX:
                _, gone = self._keys.popitem(last=False)
                self._bumped.pop(gone.use.id, None)

    def due(self, key_id: uuid.UUID) -> bool:
        """Whether last_used_at should be written now (and note that it will be)."""
        now = time.monotonic()
        with self._lock:
            if now - self._bumped.get(key_id, -LAST_USED_EVERY_S) < LAST_USED_EVERY_S:
                return False
            self._bumped[key_id] = now
            return True

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()
            self._bumped.clear()


known_keys = _KnownKeys()


def resolve_key(key: str, now: datetime) -> tuple[uuid.UUID, KeyUse]:
    """The user and key a presented key names; 401 when it is malformed, unknown or expired.
    Whether it still exists is asked by the query that acts for the caller."""
    from core.db import transaction

    if not well_formed(key):
        raise Unauthorized("invalid API key", code="invalid_token")
    digest = key_hash(key)
    known = known_keys.get(digest)
    if known is None:
        with transaction() as db:
            row = db.execute(
                select(ApiKey.id, ApiKey.user_id, ApiKey.scope, ApiKey.expires_at).where(
                    ApiKey.key_hash == digest
                )
            ).first()
        if row is None:
            raise Unauthorized("invalid API key", code="invalid_token")
        known = _Known(KeyUse(row.id, ApiKeyScope(row.scope), digest), row.user_id, row.expires_at)
        known_keys.put(digest, known)
    if known.expires_at is not None and known.expires_at <= now:
        raise Unauthorized("the API key has expired", code="api_key_expired")
    if known_keys.due(known.use.id):
        with transaction() as db:
            db.execute(update(ApiKey).where(ApiKey.id == known.use.id).values(last_used_at=now))
    return known.user_id, known.use
