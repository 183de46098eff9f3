"""Webhooks: where an execution's result may be POSTed, how it is signed, how it is delivered.

Signing: `X-Agents-Timestamp: <unix seconds>` and `X-Agents-Signature: v1=<hex>`, the hex being
HMAC-SHA256(secret, f"{timestamp}." + body). A receiver recomputes it over the raw body, compares
in constant time and rejects timestamps older than a few minutes (`verify` does all three). The
secret is per user, derived from SECRET_KEY (`webhook_secret_for`): a 64-character hex string
whose ASCII bytes are the HMAC key.

Destinations (`check_webhook_url`) follow core.egress: https to public addresses only, unless
the host is in WEBHOOK_ALLOWED_HOSTS; checked when the URL is given and again at every connect.

Delivery (`deliver`) goes through egress's pinned transport (DNS rebinding is defeated there).
Redirects are not followed by httpx: each of at most three hops is a new request through the same
transport, so every target is checked. No proxy from the environment is used (it would connect on
our behalf, unchecked), and a fresh client per delivery means no pooled connection is ever shared
between host names."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
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

TIMESTAMP_HEADER = "X-Agents-Timestamp"
SIGNATURE_HEADER = "X-Agents-Signature"
SIGNATURE_VERSION = "v1"
USER_AGENT = "agents-service-webhooks/1"
MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRYABLE_STATUSES = frozenset({408, 425, 429})


# signing


def sign(body: bytes, secret: bytes, timestamp: int) -> str:
    """Hex HMAC-SHA256 over f"{timestamp}." + body."""
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_headers(body: bytes, secret: bytes, timestamp: int) -> dict[str, str]:
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SIGNATURE_VERSION}={sign(body, secret, timestamp)}",
    }


def verify(
    body: bytes,
    secret: bytes,
    timestamp: str,
    signature: str,
    *,
    now: float | None = None,
    tolerance_s: int = 300,
) -> bool:
    """What a receiver does: the timestamp is recent and one of the `v1=` signatures in the
    header (several during a secret rotation, comma-separated) matches the raw body."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent_at) > tolerance_s:
        return False
    expected = sign(body, secret, sent_at)
    candidates = (part.strip().partition("=") for part in signature.split(","))
    return any(
        version == SIGNATURE_VERSION and hmac.compare_digest(value, expected)
        for version, _, value in candidates
    )


def webhook_secret_for(settings: Settings, user_id: uuid.UUID | str) -> bytes:
    """The user's signing secret: HMAC(SECRET_KEY, "webhook:" + user_id) as ASCII hex. Changes
    when SECRET_KEY does."""
    digest = hmac.new(settings.signing_key(), f"webhook:{user_id}".encode(), hashlib.sha256)
    return digest.hexdigest().encode()


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
    secret: bytes,
    settings: Settings,
    *,
    now: float | None = None,
) -> DeliveryResult:
    """POST the payload as signed JSON once (following up to three checked redirects) and say
    whether it arrived and, if not, whether trying again later could help."""
    import httpx

    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = int(time.time() if now is None else now)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signature_headers(body, secret, timestamp),
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
