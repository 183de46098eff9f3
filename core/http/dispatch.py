"""Serving one request of an endpoint: authenticate, parse, call the handler inside the
request's unit of work, serialize (core.http.routes says what a handler may ask for)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Response, current_app, request

from core.errors import DomainError, Forbidden, NotFound
from core.http.endpoint import Endpoint
from core.http.errors import handle_domain_error
from core.http.parsing import parse_body, parse_multipart, parse_query
from core.http.serializing import serialize

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.orm import Session

    from core.access.callers import KeyUse
    from core.config import Settings
    from core.models.users import User
    from core.services.rate_limits import Verdict


# where an app keeps the Backends its handlers are given (core.http.app.create_app)
BACKENDS = "core.backends"


def view(endpoint: Endpoint) -> Callable[..., Response]:
    def view(**path_params: Any) -> Response:
        return _dispatch(endpoint, path_params)

    view.__name__ = endpoint.name
    return view


def _dispatch(endpoint: Endpoint, kwargs: dict[str, Any]) -> Response:
    from core.config import get_settings

    if endpoint.needs:
        from core.warmup import load

        load(endpoint.needs)

    if get_settings().trace_exporter == "none":
        return _dispatch_unit(endpoint, kwargs)
    from core.telemetry import request_span

    name = f"{endpoint.method} {endpoint.prefix}{endpoint.rule}"
    with request_span(get_settings(), name, dict(request.headers.items())):
        return _dispatch_unit(endpoint, kwargs)


def _dispatch_unit(endpoint: Endpoint, kwargs: dict[str, Any]) -> Response:
    rate: list[Verdict] = []  # the caller's request budget, once the caller is known
    try:
        response = _serve(endpoint, kwargs, rate)
    except DomainError as exc:
        verdict = rate[0] if rate else getattr(exc, "verdict", None)
        if verdict is None:
            raise
        response = handle_domain_error(exc)
        response.headers.update(rate_headers(verdict))
        return response
    if rate:
        response.headers.update(rate_headers(rate[0]))
    return response


def rate_headers(verdict: Verdict) -> dict[str, str]:
    """What a request learns of its user's budget: the RateLimit header fields."""
    from core.services.rate_limits import POLICY, WINDOW_S

    return {
        "RateLimit-Policy": f'"{POLICY}";q={verdict.limit};w={WINDOW_S}',
        "RateLimit": f'"{POLICY}";r={verdict.remaining};t={verdict.reset_s}',
    }


def _serve(endpoint: Endpoint, kwargs: dict[str, Any], rate: list[Verdict]) -> Response:
    wants = endpoint.wants
    path_values = list(kwargs.values())
    settings = None
    if "settings" in wants or "backends" in wants or endpoint.auth != "none":
        from core.config import get_settings

        settings = get_settings()
        if "settings" in wants:
            kwargs["settings"] = settings
        if "backends" in wants:
            kwargs["backends"] = current_app.extensions[BACKENDS]
    if "now" in wants:
        kwargs["now"] = _now()
    if "headers" in wants:
        kwargs["headers"] = request.headers
    with ExitStack() as stack:
        caller = None
        if "db" in wants or endpoint.auth != "none":
            from core.db import transaction

            db = stack.enter_context(transaction())
            if "db" in wants:
                kwargs["db"] = db
            # authentication first: an anonymous caller learns nothing about validation rules
            if endpoint.auth == "token":
                from core.services.auth import verify_bearer

                assert settings is not None
                caller = kwargs["caller"] = verify_bearer(settings, _bearer(), _now())
                _count_request(settings, caller.user_id, rate)
                _check_key(endpoint, caller.key)
                if "api_key" in wants:
                    kwargs["api_key"] = caller.key
            elif endpoint.auth != "none":
                assert settings is not None
                user = _authenticate(endpoint, db, settings, kwargs, rate)
                if "user" in wants:
                    kwargs["user"] = user
        if any(isinstance(value, str) and "\x00" in value for value in path_values):
            # PostgreSQL stores no NUL, so nothing is named by such a path
            raise NotFound("nothing is found at this path", code="not_found")
        try:
            if endpoint.query is not None:
                kwargs["query"] = parse_query(endpoint)
            if endpoint.multipart and (
                endpoint.body is None or request.mimetype == "multipart/form-data"
            ):
                kwargs.update(parse_multipart(endpoint))
                if "body" in wants:  # a route that takes JSON or a form was sent the form
                    kwargs["body"] = None
            elif endpoint.body is not None:
                kwargs["body"] = parse_body(endpoint)
                kwargs.update({name: None for name in ("form", "upload") if name in wants})
        except DomainError:
            if caller is not None:  # a closed account hears 401, as on every other route
                from core.access.callers import account_of

                account_of(db, caller)
            raise
        result = endpoint.handler(**kwargs)
        # serialize inside the unit of work: a failure here rolls it back
        return serialize(endpoint, result)
    raise AssertionError("unreachable")  # pragma: no cover


def _authenticate(
    endpoint: Endpoint, db: Session, settings: Settings, path: dict[str, Any], rate: list[Verdict]
) -> User | None:
    from core.access.callers import account_of
    from core.services.auth import verify_bearer

    if endpoint.auth == "optional" and not request.headers.get("Authorization"):
        return None
    also = None
    if endpoint.preload is not None:
        param, model = endpoint.preload
        also = (model, path[param])
    caller = verify_bearer(settings, _bearer(), _now())
    _count_request(settings, caller.user_id, rate)
    _check_key(endpoint, caller.key)
    if "api_key" in endpoint.wants:
        path["api_key"] = caller.key
    return account_of(db, caller, also=also)


def _count_request(settings: Settings, user_id: uuid.UUID, rate: list[Verdict]) -> None:
    """RATE_LIMIT_PER_MINUTE: 429 `rate_limited` when the caller's minute is spent."""
    if settings.rate_limit_per_minute is None:
        return
    from core.services.rate_limits import limiter

    rate.append(limiter.hit(user_id, settings.rate_limit_per_minute))


def _check_key(endpoint: Endpoint, key: KeyUse | None) -> None:
    """A request made with an API key: the route must be one its scope allows (403)."""
    if key is None:
        return
    from core.models.users import ApiKeyScope
    from core.services.api_keys import SCOPE_RANK

    need = endpoint.key_need
    if need == "never" or SCOPE_RANK[key.scope] < SCOPE_RANK[ApiKeyScope(need)]:
        raise Forbidden(
            f"this API key's scope ({key.scope.value}) does not allow "
            f"{endpoint.method} {endpoint.prefix}{endpoint.rule}"
            + ("" if need == "never" else f"; it needs {need}"),
            code="api_key_scope",
        )


def _now() -> datetime:
    """The time by the clock the app was given."""
    now: datetime = current_app.extensions[BACKENDS].clock.now()
    return now


def _bearer() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None
