"""API keys as strings: `ak_<prefix>_<secret>`, 8 characters of prefix (shown in lists, to tell
keys apart) and 43 of secret (32 random bytes), stored as the SHA-256 of the whole key."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

KEY_PREFIX = "ak_"
_SHAPE = re.compile(r"^ak_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{43}$")


def new_key() -> tuple[str, str]:
    """A new key and its prefix (what lists show)."""
    prefix = secrets.token_hex(4)
    return f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix


def is_api_key(bearer: str) -> bool:
    return bearer.startswith(KEY_PREFIX)


def well_formed(key: str) -> bool:
    return _SHAPE.match(key) is not None


def key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def live_key_clause(users: Any = None) -> Any:
    """The presented key (`:key_hash`) still exists for that user and has not expired."""
    from sqlalchemy import bindparam, exists, func, or_, select

    from core.models.users import ApiKey, User

    users = User.__table__ if users is None else users
    keys = ApiKey.__table__
    return exists(
        select(keys.c.id).where(
            keys.c.key_hash == bindparam("key_hash"),
            keys.c.user_id == users.c.id,
            or_(keys.c.expires_at.is_(None), keys.c.expires_at > func.now()),
        )
    )
