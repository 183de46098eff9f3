"""Cloud Function `api_keys` (served at /api-keys): the caller's API keys, managed only when
signed in (never with a key)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.http import RouteGroup
from core.http.app import function_entry
from core.models.users import ApiKey, User
from core.pagination import Page
from core.schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from core.schemas.common import PageOf, PageQuery
from core.services import api_keys as service

routes = RouteGroup("api_keys", path="/api-keys", description="keys for programs")


@routes.post("", body=ApiKeyCreate, response=ApiKeyCreated, status=201, keys="never", secret=True)
def create_key(body: ApiKeyCreate, user: User, db: Session, now: datetime) -> dict[str, Any]:
    """A new key (`Authorization: Bearer ak_…`): the whole key is in this answer only."""
    return service.create_key(db, user=user, data=body, now=now)


@routes.get("", query=PageQuery, response=PageOf[ApiKeyPublic], keys="never")
def list_keys(query: PageQuery, user: User, db: Session) -> Page[ApiKey]:
    """Your keys, newest first (never their secret part)."""
    return service.list_keys(db, user=user, query=query)


@routes.delete("/<uuid:key_id>", status=204, keys="never")
def delete_key(key_id: uuid.UUID, user: User, db: Session) -> None:
    """Revoke a key: refused from the next request on."""
    service.delete_key(db, user=user, key_id=key_id)


entry = function_entry(lambda: routes)
