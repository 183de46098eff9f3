"""The console's login session: its refresh token in a cookie the page's scripts cannot read
(HttpOnly), sent only over HTTPS (Secure; browsers count http://localhost as secure), only to the
console's own auth routes (Path=/auth/console) and never with a request another site starts
(SameSite=Strict). The access token stays in the page's memory. CSRF: besides SameSite, each of
those routes wants the `X-Agents-Console: 1` header, which a form or a link cannot send and a
script of another origin can send only after a CORS preflight that ALLOWED_ORIGINS refuses.
API clients keep the bearer routes (/auth/login, /auth/refresh) unchanged."""

from __future__ import annotations

from werkzeug.datastructures import Headers
from werkzeug.http import parse_cookie

from core.errors import Forbidden, Unauthorized

COOKIE = "agents_refresh"
PATH = "/auth/console"
CONSOLE_HEADER = "X-Agents-Console"


def keep(refresh_token: str, max_age_s: int) -> dict[str, str]:
    return {
        "Set-Cookie": f"{COOKIE}={refresh_token}; Max-Age={max_age_s}; Path={PATH}; HttpOnly; "
        "Secure; SameSite=Strict"
    }


def forget() -> dict[str, str]:
    return {"Set-Cookie": f"{COOKIE}=; Max-Age=0; Path={PATH}; HttpOnly; Secure; SameSite=Strict"}


def from_console(headers: Headers) -> None:
    if headers.get(CONSOLE_HEADER) != "1":
        raise Forbidden(
            f"the console's session routes want the {CONSOLE_HEADER}: 1 header",
            code="console_header_missing",
        )


def cookie_token(headers: Headers) -> str | None:
    """The session cookie's refresh token, if the request carries one."""
    return parse_cookie(headers.get("Cookie", "")).get(COOKIE) or None


def refresh_token_of(headers: Headers) -> str:
    token = cookie_token(headers)
    if token is None:
        raise Unauthorized("no console session: sign in", code="missing_token")
    return token
