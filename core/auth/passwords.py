"""Argon2id password hashes (argon2-cffi): RFC 9106's low-memory profile (t=3, m=64 MiB,
p=4) unless PASSWORD_HASH_TIME_COST and PASSWORD_HASH_MEMORY_KIB say otherwise. A hash made
with other costs is remade at the next login (`needs_rehash`)."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    from core.config import get_settings

    settings = get_settings()
    return PasswordHasher(
        time_cost=settings.password_hash_time_cost,
        memory_cost=settings.password_hash_memory_kib,
        parallelism=4,
    )


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher().hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def burn_verification_time(password: str) -> None:
    """Spend what a real verification costs, so an unknown username answers as slowly as a
    wrong password does (no user enumeration by timing)."""
    verify_password(_dummy_hash(), password)


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)
