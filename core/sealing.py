"""Sealing users' credentials at rest: AES-256-GCM under CREDENTIALS_KEY (production: a Secret
Manager secret given to the functions that run agents; locally generated once into DATA_DIR); the
AES key is the SHA-256 of that secret.

A sealed value is nonce (12 bytes) + ciphertext + tag. The associated data names the owner and
the credential's name, so a sealed value moved to another row or user does not open.

Rotating the key: set the new one as CREDENTIALS_KEY and the old ones in CREDENTIALS_OLD_KEYS.
The key ring opens a value with the key that sealed it (the row's `key_id`); one opened with an
old key is sealed again under the current key (`python -m core.cli reseal-credentials` does all
of them at once); a value no key of the ring opens is unreadable, which is not the same as
missing."""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.config import Settings, local_secret
from core.errors import ConfigError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
MIN_KEY_CHARS = 32


class CannotOpen(Exception):
    """The sealed value was not sealed with this key for this owner and name."""


@dataclass(frozen=True)
class SealingKey:
    key_id: str  # the first bytes of the key's SHA-256, to tell keys apart after a rotation
    aead: AESGCM

    def seal(self, value: str, context: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self.aead.encrypt(nonce, value.encode(), context.encode())

    def open(self, sealed: bytes, context: str) -> str:
        from cryptography.exceptions import InvalidTag

        try:
            plain = self.aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context.encode())
        except (InvalidTag, ValueError):
            raise CannotOpen() from None
        return plain.decode()


@dataclass(frozen=True)
class KeyRing:
    """The current key, which seals, and older ones, which only open."""

    current: SealingKey
    older: tuple[SealingKey, ...]

    def open(self, sealed: bytes, context: str, key_id: str) -> tuple[str, bool]:
        """The value, and whether it must be sealed again (an old key opened it). CannotOpen
        when no key of the ring does."""
        keys = [self.current, *self.older]
        keys.sort(key=lambda key: key.key_id != key_id)  # the key that says it sealed it first
        for key in keys:
            try:
                return key.open(sealed, context), key is not self.current
            except CannotOpen:
                continue
        raise CannotOpen()

    def knows(self, key_id: str) -> bool:
        return any(key.key_id == key_id for key in (self.current, *self.older))


def key_ring(settings: Settings) -> KeyRing:
    old = settings.credentials_old_keys
    secrets_ = [text for text in (old.get_secret_value().split(",") if old else []) if text.strip()]
    return KeyRing(sealing_key(settings), tuple(_key_of(decode_key(text)) for text in secrets_))


def credential_context(user_id: object, name: str) -> str:
    return f"credential:{user_id}:{name}"


_keys: dict[bytes, SealingKey] = {}
_lock = threading.Lock()


def sealing_key(settings: Settings) -> SealingKey:
    """The current key of these settings (it seals), made once per process."""
    return _key_of(_raw_key(settings))


def _key_of(raw: bytes) -> SealingKey:
    key = _keys.get(raw)
    if key is None:
        with _lock:
            key = _keys.get(raw)
            if key is None:
                from cryptography.hazmat.primitives.ciphers.aead import AESGCM

                key = SealingKey(hashlib.sha256(raw).hexdigest()[:16], AESGCM(raw))
                _keys[raw] = key
    return key


def _raw_key(settings: Settings) -> bytes:
    if settings.credentials_key is not None:
        return decode_key(settings.credentials_key.get_secret_value())
    if not settings.is_local:
        raise ConfigError(
            "CREDENTIALS_KEY is not set: this function cannot read or store credentials "
            "(Terraform gives it to the functions that run agents)"
        )
    return decode_key(
        local_secret(
            settings.data_dir,
            "credentials_key",
            lambda: secrets.token_urlsafe(48),
        )
    )


def decode_key(text: str) -> bytes:
    """The AES-256 key of a CREDENTIALS_KEY: SHA-256 of the secret (at least 32 random
    characters, e.g. Terraform's random_password or `openssl rand -base64 32`)."""
    secret = text.strip()
    if len(secret) < MIN_KEY_CHARS:
        raise ConfigError(
            f"CREDENTIALS_KEY must be at least {MIN_KEY_CHARS} random characters "
            "(generate one with: openssl rand -base64 32)"
        )
    return hashlib.sha256(b"agents-credentials-key:" + secret.encode()).digest()
