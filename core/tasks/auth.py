"""Who may call the worker routes (/tasks/...).

- Production (APP_ENV=production, or TASKS_QUEUE set without the emulator): only Cloud Tasks,
  proven by the Google-signed OIDC ID token it sends as `Authorization: Bearer`. The token must
  carry our audience (TASKS_WORKER_URL), a Google issuer, `email` = TASKS_INVOKER_SA and
  `email_verified` true. A bad, expired or foreign token is 401; a genuine Google token for another
  principal is 403.
- Local mode (the in-process dispatcher, or gcloud-tasks-emulator, which sends no token): the
  shared secret in `X-Tasks-Secret`, compared in constant time.

google-auth and requests are imported on first verification. google-auth fetches the
certificates on every verification; `_CertsCache` keeps them for as long as the endpoint's
Cache-Control allows (Google rotates keys well ahead of use), so a task costs no extra round trip.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from core.config import Settings
from core.errors import ConfigError, Forbidden, Unauthorized, Unavailable
from core.lazy import Lazy

if TYPE_CHECKING:
    from google.auth.transport import Request, Response

SHARED_SECRET_HEADER = "X-Tasks-Secret"
LOCAL_IDENTITY = "local-dispatcher"
GOOGLE_ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})
# Google's OAuth2 signing certificates as {kid: PEM}; tests point this at their own endpoint
CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
CLOCK_SKEW_S = 10
_CERTS_MAX_TTL_S = 3600
_SHARED_SECRET_LABEL = b"agents-service/tasks-shared-secret/v1"


def tasks_shared_secret(settings: Settings) -> str:
    """TASKS_SHARED_SECRET, else one derived from SECRET_KEY (so the local server and its
    dispatcher agree without configuration)."""
    if settings.tasks_shared_secret is not None:
        return settings.tasks_shared_secret.get_secret_value()
    return hmac.new(settings.signing_key(), _SHARED_SECRET_LABEL, hashlib.sha256).hexdigest()


def uses_oidc(settings: Settings) -> bool:
    """Whether the worker demands Cloud Tasks' OIDC token rather than the shared secret."""
    if not settings.is_local:
        return True
    return settings.tasks_queue is not None and settings.tasks_emulator_host is None


def verify_task_request(headers: Mapping[str, str], settings: Settings) -> str:
    """The caller's identity (the invoker service account, or "local-dispatcher"); raises
    `Unauthorized` for missing or invalid credentials, `Forbidden` for a valid token of another
    principal, `Unavailable` when Google's certificates cannot be fetched."""
    if uses_oidc(settings):
        return _verify_oidc(_header(headers, "Authorization"), settings)
    presented = _header(headers, SHARED_SECRET_HEADER)
    if not presented:
        raise Unauthorized(f"task requests need the {SHARED_SECRET_HEADER} header")
    expected = tasks_shared_secret(settings)
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        raise Unauthorized("invalid task credentials")
    return LOCAL_IDENTITY


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()  # plain dicts are case-sensitive; Flask's headers are not
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _verify_oidc(authorization: str | None, settings: Settings) -> str:
    if not settings.tasks_worker_url or not settings.tasks_invoker_sa:
        raise ConfigError(
            "the worker verifies Cloud Tasks' OIDC token: TASKS_WORKER_URL (the audience) and "
            "TASKS_INVOKER_SA must be set"
        )
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("task requests need an OIDC bearer token")

    import jwt
    from google.auth import exceptions as auth_exceptions
    from google.oauth2 import id_token

    try:
        claims = id_token.verify_token(
            token.strip(),
            _certs_request(),
            audience=settings.tasks_worker_url,
            certs_url=CERTS_URL,
            clock_skew_in_seconds=CLOCK_SKEW_S,
        )
    except auth_exceptions.TransportError as exc:
        raise Unavailable("cannot fetch the token signing certificates") from exc
    except (ValueError, TypeError, auth_exceptions.GoogleAuthError, jwt.PyJWTError):
        raise Unauthorized("invalid task token") from None
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise Unauthorized("invalid task token")
    if claims.get("email") != settings.tasks_invoker_sa or claims.get("email_verified") is not True:
        raise Forbidden("this principal may not call the worker")
    return str(claims["email"])


class _CertsCache:
    """A google-auth transport that remembers successful GETs for their Cache-Control max-age
    (at most an hour), over one lazily created requests session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._transport: Request | None = None
        self._entries: dict[str, tuple[float, Response]] = {}

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Response:
        if method == "GET":
            entry = self._entries.get(url)
            if entry is not None and entry[0] > time.monotonic():
                return entry[1]
        response: Response = self._http()(
            url, method=method, body=body, headers=headers, timeout=timeout or 10, **kwargs
        )
        if method == "GET" and response.status == 200:
            ttl = _cache_ttl_s(response.headers)
            if ttl > 0:
                self._entries[url] = (time.monotonic() + ttl, response)
        return response

    def _http(self) -> Request:
        if self._transport is None:
            with self._lock:
                if self._transport is None:
                    import requests
                    from google.auth.transport.requests import Request as RequestsRequest

                    self._transport = RequestsRequest(session=requests.Session())
        return self._transport

    def clear(self) -> None:
        self._entries.clear()


def _cache_ttl_s(headers: Mapping[str, str]) -> float:
    control = _header(headers, "Cache-Control") or ""
    if re.search(r"\b(no-store|no-cache|private)\b", control):
        return 0
    match = re.search(r"\bmax-age=(\d+)", control)
    if match is None:
        return 0
    try:
        age = int(_header(headers, "Age") or 0)
    except ValueError:
        age = 0
    return float(min(int(match.group(1)) - age, _CERTS_MAX_TTL_S))


_certs_cache = Lazy(lambda: _CertsCache())


def _certs_request() -> Any:
    """google-auth's `Request` interface; typed Any because `_CertsCache` duck-types it."""
    return _certs_cache.get()


def clear_certs_cache() -> None:
    """Forget cached certificates (tests that rotate keys)."""
    cache = _certs_cache.reset()
    if cache is not None:
        cache.clear()
