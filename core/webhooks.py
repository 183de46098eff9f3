"""Webhooks: where an execution's result may be POSTed, how it is signed, how it is delivered.

Signing: `X-Agents-Timestamp: <unix seconds>` and `X-Agents-Signature: v1=<hex>`, the hex being
HMAC-SHA256(secret, f"{timestamp}." + body). A receiver recomputes it over the raw body, compares
in constant time and rejects timestamps older than a few minutes (`verify` does all three). The
secret is per user, derived from SECRET_KEY (`webhook_secret_for`): a 64-character hex string
whose ASCII bytes are the HMAC key.

Destinations (`check_webhook_url`): https only, no user-info, and every address the host resolves
to must be public: no loopback, private, link-local, CGNAT, multicast, reserved or unspecified
address (IPv4-mapped, 6to4, Teredo and NAT64 forms are unwrapped too), no cloud metadata server.
Hosts in WEBHOOK_ALLOWED_HOSTS (exact names or IP literals) are exempt from the address rule and
may use http; the metadata server (by name or address) is refused even then.

Delivery (`deliver`) defeats DNS rebinding: its httpx transport (`_pinned_transport`, an
`httpx.HTTPTransport` subclass) resolves the host once per request, checks every address, then
connects to a checked address itself (the request URL is rewritten to the IP) while the request
keeps its Host header and TLS server name (httpcore's `sni_hostname` extension), so certificate
verification still names the host. Redirects are not followed by httpx: each of at most three
hops is a new request through the same transport, so every target is checked. No proxy from the
environment is used (it would connect on our behalf, unchecked), and a fresh client per delivery
means no pooled connection is ever shared between host names.

Why one module of ~360 lines: the address rules are used at check time and again at every
connect and redirect of the delivery; they are one concern."""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import SplitResult, urljoin, urlsplit

from core.config import Settings
from core.errors import Invalid, field_error

if TYPE_CHECKING:
    import httpx

TIMESTAMP_HEADER = "X-Agents-Timestamp"
SIGNATURE_HEADER = "X-Agents-Signature"
SIGNATURE_VERSION = "v1"
USER_AGENT = "agents-service-webhooks/1"
MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRYABLE_STATUSES = frozenset({408, 425, 429})
MAX_URL_LENGTH = 2000
_FIELD: tuple[str, ...] = ("body", "webhook_url")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata"})


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


class UnresolvableHost(Invalid):
    """The host has no address right now (maybe a DNS hiccup: delivery retries it)."""


def check_webhook_url(url: str, settings: Settings) -> None:
    """Raise `Invalid` (422, detail at body.webhook_url) unless `url` is an acceptable webhook
    destination now."""
    parts = _parse(url)
    resolve_destination(parts.scheme, parts.hostname or "", parts.port, settings)


def _parse(url: str) -> SplitResult:
    """The rules that need no DNS."""
    if len(url) > MAX_URL_LENGTH:
        _refuse(f"must be at most {MAX_URL_LENGTH} characters", "url_too_long")
    if any(ch.isspace() or ord(ch) < 0x20 or ch in "\\\x7f" for ch in url):
        _refuse("must not contain spaces, control characters or backslashes", "url_syntax")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        _refuse("is not a valid URL", "url_syntax")
    if "@" in parts.netloc:
        _refuse("must not carry a user name or password", "url_userinfo")
    if parts.scheme.lower() not in ("https", "http"):
        _refuse("must be an https URL", "url_scheme")
    return parts


def resolve_destination(
    scheme: str, host: str, port: int | None, settings: Settings
) -> list[IPAddress]:
    """The checked addresses to connect to for scheme://host:port; raises `Invalid` when the
    destination is refused (`UnresolvableHost` when it has no address)."""
    scheme = scheme.lower()
    host = host.lower().rstrip(".").strip("[]")
    if scheme not in ("https", "http"):
        _refuse("must be an https URL", "url_scheme")
    if not host:
        _refuse("must name a host", "url_host")
    if host in _METADATA_HOSTS:
        _refuse("must not point at the metadata server", "url_address")
    allowed = host in allowed_hosts(settings)
    if scheme == "http" and not allowed:
        _refuse("must be an https URL", "url_scheme")
    addresses = _resolve(host, port or (443 if scheme == "https" else 80))
    if allowed:  # exempt from the public-address rule, never from the metadata one
        if any(address in _METADATA_ADDRESSES for address in addresses):
            _refuse("must not point at the metadata server", "url_address")
    elif not all(is_public_address(address) for address in addresses):
        _refuse("must resolve to public internet addresses only", "url_address")
    return addresses


def allowed_hosts(settings: Settings) -> frozenset[str]:
    return frozenset(
        host.strip().lower().rstrip(".").strip("[]")
        for host in settings.webhook_allowed_hosts.split(",")
        if host.strip()
    )


def is_public_address(address: IPAddress) -> bool:
    for candidate in _embedded_addresses(address):
        if (
            candidate in _METADATA_ADDRESSES
            or candidate.is_private
            or candidate.is_loopback
            or candidate.is_link_local
            or candidate.is_multicast
            or candidate.is_reserved
            or candidate.is_unspecified
            or not candidate.is_global
            or (isinstance(candidate, ipaddress.IPv4Address) and candidate in _CGNAT)
        ):
            return False
    return True


def _embedded_addresses(address: IPAddress) -> Iterable[IPAddress]:
    """The address and any IPv4 address it tunnels to (each must be public)."""
    yield address
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            yield address.ipv4_mapped
        if address.sixtofour is not None:
            yield address.sixtofour
        if address.teredo is not None:
            yield from address.teredo
        if address in _NAT64:
            yield ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _resolve(host: str, port: int) -> list[IPAddress]:
    literal = _ip_literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnresolvableHost(
            "webhook_url is not allowed: its host does not resolve",
            details=[field_error([*_FIELD], "host does not resolve", "url_unresolvable")],
        ) from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # drop an IPv6 zone ("fe80::1%eth0"): the address alone decides
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnresolvableHost(
            "webhook_url is not allowed: its host does not resolve",
            details=[field_error([*_FIELD], "host does not resolve", "url_unresolvable")],
        )
    return addresses


def _refuse(reason: str, type: str) -> NoReturn:
    raise Invalid(
        f"webhook_url is not allowed: it {reason}",
        details=[field_error([*_FIELD], reason, type)],
    )


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
    with httpx.Client(
        transport=_pinned_transport()(settings),
        timeout=settings.webhook_timeout_s,
        follow_redirects=False,
        trust_env=False,
    ) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                _parse(current)  # the transport resolves and checks the address
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


@functools.cache
def _pinned_transport() -> Callable[[Settings], httpx.BaseTransport]:
    """The transport class, built on first delivery so importing this module needs no httpx."""
    import httpx

    class PinnedTransport(httpx.HTTPTransport):
        """Resolves and checks each request's host, then connects to a checked address (the
        next one on a connection failure); the request keeps its Host header and TLS name."""

        def __init__(self, settings: Settings) -> None:
            super().__init__(retries=0)
            self._settings = settings

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            url = request.url
            if url.userinfo:
                _refuse("must not carry a user name or password", "url_userinfo")
            host = url.raw_host.decode("ascii")
            addresses = resolve_destination(url.scheme, host, url.port, self._settings)
            request.extensions = {**request.extensions, "sni_hostname": host}
            error: httpx.ConnectError | None = None
            for address in addresses[:3]:
                request.url = url.copy_with(host=str(address))
                try:
                    return super().handle_request(request)
                except httpx.ConnectError as exc:
                    error = exc
            assert error is not None
            raise error

    return PinnedTransport
