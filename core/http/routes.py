"""Route groups. A handler declares what it needs by parameter name and type:

    @users.patch("/me", body=SelfUpdate, response=UserPublic)
    def update_me(body: SelfUpdate, user: User, db: Session) -> User: ...

`body` and `query` are parsed with their pydantic schema (unknown fields → 422, malformed JSON
→ 400), `user` is the authenticated caller, `db` the request's unit of work, `settings` the
settings, `now` the request time and `headers` the request headers; path parameters arrive by
name. The return value is serialized with `response` (ORM objects are read by attribute).

`auth="token"` verifies the bearer token and hands the handler `caller` (a `Caller`, the user id)
without reading the account: for a hot route whose service checks the account and the access in
the statement that acts (one round trip fewer), or calls `account_of` (401 for a closed account).

A multipart/form-data route declares `form=` (the schema of its plain fields) and `upload=` (the
name of its one file field); the handler receives `form` and `upload` (an `Upload`)."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from flask import Flask
from pydantic import BaseModel

from core.http.dispatch import view
from core.http.endpoint import INJECTABLE, AuthMode, Endpoint, Handler, KeyNeed, Upload

__all__ = ["RouteGroup", "Upload", "full_rule"]


class RouteGroup:
    """The routes of one Cloud Function (one URL prefix such as /users)."""

    def __init__(
        self,
        name: str,
        *,
        description: str = "",
        preload: dict[str, type[Any]] | None = None,
        path: str | None = None,
        documented: bool = True,
    ) -> None:
        """`path`: the URL prefix when it is not "/" + the name (a name is also a Python
        package and a Terraform key: `api_keys` serves /api-keys). `preload` maps a path
        parameter to the ORM model it names (`{"agent_id": Agent}`): on every authenticated
        route with that parameter the row is read in the same query as the caller's and waits
        in the session (core.access.callers.account_of). `documented`: False leaves the group
        out of the OpenAPI document."""
        self.name = name
        self.path = path or f"/{name}"
        self.description = description
        self.endpoints: list[Endpoint] = []
        self.preload = preload or {}
        # False: left out of the OpenAPI document (the console's static files are no API)
        self.documented = documented

    @property
    def needs(self) -> tuple[str, ...]:
        """The heavy modules any of the group's routes needs (a serving process loads them in
        the background at start)."""
        return tuple(dict.fromkeys(name for e in self.endpoints for name in e.needs))

    def route(
        self,
        method: str,
        rule: str,
        *,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: Any = None,
        status: int = 200,
        auth: AuthMode = "required",
        max_body_bytes: int | Callable[[], int] | None = None,
        responses: dict[int, str] | None = None,
        form: type[BaseModel] | None = None,
        upload: str | None = None,
        needs: tuple[str, ...] = (),
        streams: str | None = None,
        keys: KeyNeed | None = None,
        secret: bool = False,
    ) -> Callable[[Handler], Handler]:
        """`needs` names heavy modules the handler uses (core.agents.AGENT_RUNTIME for routes
        that run agents): the request waits until they are loaded, never imports them beside
        another thread. `streams` says what the route sends as server-sent events to a caller
        that accepts `text/event-stream`. `keys`: the API key scope the route needs (by default
        read for GET, full otherwise; "never": no key at all). `secret`: the answer carries a
        secret (a token, a key): it is sent `Cache-Control: no-store`."""

        def register(handler: Handler) -> Handler:
            wants = frozenset(inspect.signature(handler).parameters) & INJECTABLE
            self.endpoints.append(
                Endpoint(
                    group=self.name,
                    prefix=self.path,
                    method=method.upper(),
                    rule=rule,
                    handler=handler,
                    body=body,
                    query=query,
                    response=response,
                    status=status,
                    auth=auth,
                    summary=(inspect.getdoc(handler) or handler.__name__).split("\n")[0],
                    max_body=max_body_bytes,
                    responses=responses or {},
                    wants=wants,
                    list_fields=_list_fields(query),
                    form=form,
                    upload=upload,
                    preload=next(
                        (
                            (param, model)
                            for param, model in self.preload.items()
                            if f":{param}>" in rule
                        ),
                        None,
                    ),
                    needs=needs,
                    streams=streams,
                    keys=keys,
                    secret=secret,
                )
            )
            return handler

        return register

    def get(self, rule: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", rule, **options)

    def post(self, rule: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", rule, **options)

    def put(self, rule: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", rule, **options)

    def patch(self, rule: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", rule, **options)

    def delete(self, rule: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", rule, **options)

    def mount(self, app: Flask, prefix: str) -> None:
        """Serve the group under prefix ('' for a function's own URL, '/users' behind the
        load balancer and in the local server)."""
        for endpoint in self.endpoints:
            app.add_url_rule(
                full_rule(prefix, endpoint.rule),
                endpoint=f"{prefix or '/'}:{endpoint.name}",
                view_func=view(endpoint),
                methods=[endpoint.method],
                strict_slashes=False,
            )


def full_rule(prefix: str, rule: str) -> str:
    return (prefix + rule) or "/"


def _list_fields(query: type[BaseModel] | None) -> frozenset[str]:
    if query is None:
        return frozenset()
    return frozenset(
        name
        for name, info in query.model_fields.items()
        if typing.get_origin(info.annotation) is list
        or any(typing.get_origin(a) is list for a in typing.get_args(info.annotation))
    )
