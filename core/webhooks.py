"""Webhooks: where an execution's result may be POSTed, how it is signed, how it is delivered.

Signing follows the Standard Webhooks spec (standardwebhooks.com): `webhook-id` (the same for
every delivery of one message), `webhook-timestamp` (unix seconds) and `webhook-signature:
v1,<base64 HMAC-SHA256>` over f"{id}.{timestamp}." + body, keyed with the user's secret
`whsec_<base64 key>`. Any Standard Webhooks library verifies it (`verify` does what they do). The
secret is per user and derived from SECRET_KEY and the user's secret version
(`webhook_secret_for`), so nothing secret is stored; rotating it bumps the version, and for
ROTATION_GRACE_S the old secret signs too (the header then carries both signatures).

Destinations (`check_webhook_url`) follow core.egress: https to public addresses only, unless
the host is in WEBHOOK_ALLOWED_HOSTS; checked when the URL is given and again at every connect.

Delivery (`deliver`) goes through egress's pinned transport (DNS rebinding is defeated there).
Redirects are not followed by httpx: each of at most three hops is a new request through the same
transport, so every target is checked. No proxy from the environment is used (it would connect on
our behalf, unchecked), and a fresh client per delivery means no pooled connection is ever shared
between host names."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from core.config import Settings
from core.egress import (
    EgressPolicy,
    UnresolvableHost,
    check_url,
    parse_url,
    pinned_transport,
)
from core.errors import Invalid

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SIGNATURE_VERSION = "v1"
USER_AGENT = "agents-service-webhooks/1"
MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRYABLE_STATUSES = frozenset({408, 425, 429})


# signing


SECRET_PREFIX = "whsec_"
ROTATION_GRACE_S = 24 * 3600


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(message_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """`v1,<base64 HMAC-SHA256>` over f"{message_id}.{timestamp}." + body."""
    to_sign = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), to_sign, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signature_headers(
    message_id: str, body: bytes, secrets: list[str], timestamp: int
) -> dict[str, str]:
    """The three headers; one signature per secret (the current one first)."""
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: " ".join(sign(message_id, timestamp, body, s) for s in secrets),
    }


def verify(
    body: bytes,
    secret: str,
    headers: Mapping[str, str],
    *,
    now: float | None = None,
    tolerance_s: int = 300,
) -> bool:
    """What a receiver does: the timestamp is recent and one of the signatures in the header
    (space-separated) matches the raw body under this secret."""
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        sent_at = int(lowered.get(TIMESTAMP_HEADER, ""))
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent_at) > tolerance_s:
        return False
    expected = sign(lowered.get(ID_HEADER, ""), sent_at, body, secret)
    return any(
        hmac.compare_digest(candidate, expected)
        for candidate in lowered.get(SIGNATURE_HEADER, "").split(" ")
    )


def webhook_secret_for(settings: Settings, user_id: uuid.UUID | str, version: int = 0) -> str:
    """The user's signing secret of that version: `whsec_` and the base64 of HMAC(SECRET_KEY,
    "webhook:<user_id>:<version>"). Changes when SECRET_KEY does."""
    digest = hmac.new(
        settings.signing_key(), f"webhook:{user_id}:{version}".encode(), hashlib.sha256
    ).digest()
    return SECRET_PREFIX + base64.b64encode(digest).decode()


def signing_secrets(
    settings: Settings,
    user_id: uuid.UUID,
    version: int,
    rotated_at: datetime | None,
    now: datetime,
) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the previous one for
    ROTATION_GRACE_S after a rotation (receivers switch over without losing a delivery)."""
    secrets = [webhook_secret_for(settings, user_id, version)]
    in_grace = rotated_at is not None and (now - rotated_at).total_seconds() < ROTATION_GRACE_S
    if version > 0 and in_grace:
        secrets.append(webhook_secret_for(settings, user_id, version - 1))
    return secrets


# destinations


def webhook_policy(settings: Settings) -> EgressPolicy:
    return EgressPolicy(
        EgressPolicy.hosts(settings.webhook_allowed_hosts), "webhook_url", ("body", "webhook_url")
    )


def check_webhook_url(url: str, settings: Settings) -> None:
    """Raise `Invalid` (422, detail at body.webhook_url) unless `url` is an acceptable webhook
    destination now (core.egress)."""
    check_url(url, webhook_policy(settings))


# delivery


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    status_code: int | None  # the last HTTP status received, None when no response came
    retryable: bool
    error: str | None = None
    retry_after_s: float | None = None  # the receiver's Retry-After, when it sent seconds

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


def deliver(
    url: str,
    payload: Mapping[str, Any],
    secrets: list[str],
    settings: Settings,
    *,
    message_id: str,
    now: float | None = None,
) -> DeliveryResult:
    """POST the payload as signed JSON once (following up to three checked redirects) and say
    whether it arrived and, if not, whether trying again later could help. `message_id` is the
    same for every attempt at one message (receivers drop duplicates by it)."""
    import httpx

    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = int(time.time() if now is None else now)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signature_headers(message_id, body, secrets, timestamp),
    }
    status: int | None = None
    current = url
    policy = webhook_policy(settings)
    with httpx.Client(
        transport=pinned_transport()(policy),
        timeout=settings.webhook_timeout_s,
        follow_redirects=False,
        trust_env=False,
    ) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                parse_url(current, policy)  # the transport resolves and checks the address
                with client.stream("POST", current, content=body, headers=headers) as response:
                    status = response.status_code
                    location = response.headers.get("Location")
                    retry_after = _seconds(response.headers.get("Retry-After"))
            except UnresolvableHost as exc:
                return DeliveryResult(status, retryable=True, error=exc.message)
            except Invalid as exc:
                return DeliveryResult(status, retryable=False, error=exc.message)
            except httpx.TimeoutException:
                return DeliveryResult(status, retryable=True, error="timed out")
            except httpx.TransportError as exc:
                return DeliveryResult(status, retryable=True, error=f"{type(exc).__name__}")
            except httpx.HTTPError as exc:  # an unusable URL or redirect target
                return DeliveryResult(status, retryable=False, error=f"{type(exc).__name__}")
            if status in REDIRECT_STATUSES and location:
                current = urljoin(current, location)
                continue
            return _classify(status, retry_after)
    return DeliveryResult(status, retryable=False, error=f"more than {MAX_REDIRECTS} redirects")


def _classify(status: int, retry_after: float | None) -> DeliveryResult:
    if 200 <= status < 300:
        return DeliveryResult(status, retryable=False)
    retryable = status in RETRYABLE_STATUSES or 500 <= status < 600
    return DeliveryResult(status, retryable, f"HTTP {status}", retry_after if retryable else None)


def _seconds(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None
