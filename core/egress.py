"""Where the service may connect on a user's behalf (webhooks, MCP servers): the address rules,
checked when a URL is given and again at every connect and redirect.

A destination is https, without user-info, and every address its host resolves to is public: no
loopback, private, link-local, CGNAT, multicast, reserved or unspecified address (IPv4-mapped,
6to4, Teredo and NAT64 forms are unwrapped too), no cloud metadata server. Hosts a policy allows
(exact names or IP literals, from WEBHOOK_ALLOWED_HOSTS or MCP_ALLOWED_HOSTS) are exempt from the
address rule and may use http; the metadata server (by name or address) is refused even then.

The pinned transports defeat DNS rebinding: each request's host is resolved once, every address
checked, and the connection made to a checked address itself (the request URL is rewritten to the
IP) while the request keeps its Host header and TLS server name (httpcore's `sni_hostname`
extension), so certificate verification still names the host. Redirects followed by a client
pass through the transport again, so every hop is checked."""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import SplitResult, urlsplit

from core.errors import Invalid, NotFound, field_error

if TYPE_CHECKING:
    import httpx
    import httpx2

MAX_URL_LENGTH = 2000
# The URLs the service calls (webhooks, MCP servers), stated whole so the document can say it:
# https to a host *name* (an address only for a host an operator exempts), a port 1-65535, and
# a path of visible characters. ECMA-262 and Python read it alike (no \s: they differ on it).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TOP_LABEL = r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = (
    r"(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}"
    r"|[1-9][0-9]{0,3}))?"
)
_URL_CHAR = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff\\]"
PUBLIC_URL_PATTERN = rf"^https://(?:{_LABEL}\.)+{_TOP_LABEL}\.?{_PORT}(?:[/?#]{_URL_CHAR}*)?$"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# what a pinned transport asks before each request: (host, headers); raises to refuse it
RequestGuard = Callable[[str, Mapping[str, str]], None]
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata"})


@dataclass(frozen=True)
class EgressPolicy:
    """Which hosts are exempt from the public-address rule, and how a refusal names the URL:
    `subject` in the message (\"webhook_url\"), `field` in the details (its JSON path)."""

    allowed_hosts: frozenset[str]
    subject: str
    field: tuple[str | int, ...]

    @staticmethod
    def hosts(value: str) -> frozenset[str]:
        """A comma-separated host list as the policy compares hosts."""
        return frozenset(
            host.strip().lower().rstrip(".").strip("[]")
            for host in value.split(",")
            if host.strip()
        )


def normalized_host(host: str) -> str:
    """A host as policies and credentials compare it: lower case, no trailing dot, no brackets."""
    return host.strip().lower().rstrip(".").strip("[]")


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """Whether `host` is one of `patterns`: an exact name or address, or `*.domain` for any name
    below that domain (not the domain itself). Ports play no part."""
    host = normalized_host(host)
    for pattern in patterns:
        wanted = normalized_host(pattern)
        if wanted.startswith("*."):
            if host.endswith(wanted[1:]) and len(host) > len(wanted) - 1:
                return True
        elif host == wanted:
            return True
    return False


class UnresolvableHost(NotFound):
    """The host has no address right now: nothing is there to reach (404 naming the field; a
    delivery retries it, in case of a DNS hiccup)."""

    code = "host_not_found"


def check_url(url: str, policy: EgressPolicy, *, resolve: bool = True) -> None:
    """Raise `Invalid` (422, detail at the policy's field) unless `url` is an acceptable
    destination now. Without `resolve`, a host name is not looked up (its addresses are then
    checked at connect); an address literal is checked all the same."""
    parts = parse_url(url, policy)
    host = (parts.hostname or "").lower().rstrip(".").strip("[]")
    if resolve or _ip_literal(host) is not None or not host:
        resolve_destination(parts.scheme, host, parts.port, policy)
    else:
        _check_name(parts.scheme.lower(), host, policy)


def parse_url(url: str, policy: EgressPolicy) -> SplitResult:
    """The rules that need no DNS."""
    if len(url) > MAX_URL_LENGTH:
        _refuse(policy, f"must be at most {MAX_URL_LENGTH} characters", "url_too_long")
    if any(ch.isspace() or ord(ch) < 0x20 or ch in "\\\x7f" for ch in url):
        _refuse(policy, "must not contain spaces, control characters or backslashes", "url_syntax")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        _refuse(policy, "is not a valid URL", "url_syntax")
    if "@" in parts.netloc:
        _refuse(policy, "must not carry a user name or password", "url_userinfo")
    if parts.scheme.lower() not in ("https", "http"):
        _refuse(policy, "must be an https URL", "url_scheme")
    host = normalized_host(parts.hostname or "")
    exempt = host in policy.allowed_hosts or parts.scheme.lower() != "https"  # told apart below
    if not exempt and _ip_literal(host) is None and not re.fullmatch(PUBLIC_URL_PATTERN, url):
        _refuse(
            policy,
            "must be https://<host name>[:port][/path] (a name, not an address; visible "
            "characters only)",
            "url_syntax",
        )
    return parts


def resolve_destination(
    scheme: str, host: str, port: int | None, policy: EgressPolicy
) -> list[IPAddress]:
    """The checked addresses to connect to for scheme://host:port; raises `Invalid` when the
    destination is refused (`UnresolvableHost` when it has no address)."""
    scheme = scheme.lower()
    host = host.lower().rstrip(".").strip("[]")
    _check_name(scheme, host, policy)
    allowed = host in policy.allowed_hosts
    addresses = _resolve(host, port or (443 if scheme == "https" else 80), policy)
    if allowed:  # exempt from the public-address rule, never from the metadata one
        if any(address in _METADATA_ADDRESSES for address in addresses):
            _refuse(policy, "must not point at the metadata server", "url_address")
    elif not all(is_public_address(address) for address in addresses):
        _refuse(policy, "must resolve to public internet addresses only", "url_address")
    elif _ip_literal(host) is not None:  # public, but the document states names only
        _refuse(policy, "must name its host (an address is not accepted)", "url_syntax")
    return addresses


def _check_name(scheme: str, host: str, policy: EgressPolicy) -> None:
    """The rules on the scheme and the host's name."""
    if scheme not in ("https", "http"):
        _refuse(policy, "must be an https URL", "url_scheme")
    if not host:
        _refuse(policy, "must name a host", "url_host")
    if host in _METADATA_HOSTS:
        _refuse(policy, "must not point at the metadata server", "url_address")
    if scheme == "http" and host not in policy.allowed_hosts:
        _refuse(policy, "must be an https URL", "url_scheme")


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


def _resolve(host: str, port: int, policy: EgressPolicy) -> list[IPAddress]:
    literal = _ip_literal(host)
    if literal is not None:
        return [literal]
    unresolvable = UnresolvableHost(
        f"{policy.subject} is not allowed: its host does not resolve",
        details=[field_error([*policy.field], "host does not resolve", "url_unresolvable")],
    )
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise unresolvable from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # drop an IPv6 zone ("fe80::1%eth0"): the address alone decides
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise unresolvable
    return addresses


def _refuse(policy: EgressPolicy, reason: str, type: str) -> NoReturn:
    raise Invalid(
        f"{policy.subject} is not allowed: it {reason}",
        details=[field_error([*policy.field], reason, type)],
    )


def _pin(request: Any, policy: EgressPolicy) -> tuple[Any, list[IPAddress]]:
    """The checked addresses of a request's host; the request keeps its TLS name."""
    url = request.url
    if url.userinfo:
        _refuse(policy, "must not carry a user name or password", "url_userinfo")
    host = url.raw_host.decode("ascii")
    addresses = resolve_destination(url.scheme, host, url.port, policy)
    request.extensions = {**request.extensions, "sni_hostname": host}
    return url, addresses


@functools.cache
def pinned_transport() -> Callable[[EgressPolicy], httpx.BaseTransport]:
    """The synchronous (httpx) transport class, built on first use so importing this module
    needs no httpx."""
    import httpx

    class PinnedTransport(httpx.HTTPTransport):
        """Connects to a checked address of each request's host (the next one on a connection
        failure)."""

        def __init__(self, policy: EgressPolicy) -> None:
            super().__init__(retries=0)
            self._policy = policy

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            url, addresses = _pin(request, self._policy)
            error: httpx.ConnectError | None = None
            try:
                for address in addresses[:3]:
                    request.url = url.copy_with(host=str(address))
                    try:
                        return super().handle_request(request)
                    except httpx.ConnectError as exc:
                        error = exc
            finally:
                # the response's request names the host again: a redirect is resolved against
                # it and judged same-origin or not by it (never by the address it went to)
                request.url = url
            assert error is not None
            raise error

    return PinnedTransport


@functools.cache
def async_pinned_transport() -> Callable[..., httpx2.AsyncBaseTransport]:
    """The asynchronous (httpx2, FastMCP's client) transport class; resolution runs in a
    thread so a slow DNS answer does not stall the event loop."""
    import anyio
    import httpx2

    class AsyncPinnedTransport(httpx2.AsyncHTTPTransport):
        """`guard`: called with each request's host and headers before anything is sent; it
        raises to refuse (a credential header bound for a host its owner does not allow)."""

        def __init__(self, policy: EgressPolicy, guard: RequestGuard | None = None) -> None:
            super().__init__(retries=0)
            self._policy = policy
            self._guard = guard

        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            if self._guard is not None:
                self._guard(normalized_host(request.url.host), request.headers)
            if _ip_literal(request.url.raw_host.decode("ascii").strip("[]")) is not None:
                url, addresses = _pin(request, self._policy)  # nothing to look up
            else:
                url, addresses = await anyio.to_thread.run_sync(_pin, request, self._policy)
            error: httpx2.ConnectError | None = None
            try:
                for address in addresses[:3]:
                    request.url = url.copy_with(host=str(address))
                    try:
                        return await super().handle_async_request(request)
                    except httpx2.ConnectError as exc:
                        error = exc
            finally:
                request.url = url  # as in the synchronous transport
            assert error is not None
            raise error

    return AsyncPinnedTransport
