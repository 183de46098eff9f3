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
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, Any, Literal

from flask import Flask, Response, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from core.errors import (
    BadRequest,
    DomainError,
    Invalid,
    NotFound,
    PayloadTooLarge,
    field_error,
)
from core.http.errors import validation_details
from core.replies import Reply

Handler = Callable[..., Any]
AuthMode = Literal["required", "optional", "none", "token"]
INJECTABLE = {
    "db",
    "user",
    "caller",
    "settings",
    "now",
    "body",
    "query",
    "headers",
    "form",
    "upload",
}


@dataclass
class Endpoint:
    group: str
    method: str
    rule: str
    handler: Handler
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: Any
    status: int
    auth: AuthMode
    summary: str
    max_body: int | Callable[[], int] | None
    responses: dict[int, str]
    wants: frozenset[str] = frozenset()
    list_fields: frozenset[str] = frozenset()
    # multipart/form-data routes: the non-file fields' schema and the one file field's name
    form: type[BaseModel] | None = None
    upload: str | None = None
    # (path parameter, ORM model): that row comes with the caller's, in the same query
    preload: tuple[str, type[Any]] | None = None
    # modules loaded (core.warmup) before the handler runs
    needs: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.handler.__name__

    @property
    def max_body_bytes(self) -> int | None:
        """The body limit; a callable is asked each time (limits that come from settings)."""
        return self.max_body() if callable(self.max_body) else self.max_body

    @property
    def multipart(self) -> bool:
        return self.form is not None or self.upload is not None


@dataclass(frozen=True)
class Upload:
    """The file part of a multipart request (Werkzeug spools a large one to a temporary file).

    `filename` and `content_type` are what the client claims; `stream` is positioned at 0."""

    filename: str
    content_type: str | None
    stream: IO[bytes]


class RouteGroup:
    """The routes of one Cloud Function (one URL prefix such as /users)."""

    def __init__(
        self,
        name: str,
        *,
        description: str = "",
        preload: dict[str, type[Any]] | None = None,
    ) -> None:
        """`preload` maps a path parameter to the ORM model it names (`{"agent_id": Agent}`):
        on every authenticated route with that parameter the row is read in the same query as
        the caller's and waits in the session (core.services.auth.authenticate)."""
        self.name = name
        self.description = description
        self.endpoints: list[Endpoint] = []
        self.preload = preload or {}

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
    ) -> Callable[[Handler], Handler]:
        """`needs` names heavy modules the handler uses (core.warmup.AGENT_RUNTIME for routes
        that run agents): the request waits until they are loaded, never imports them beside
        another thread."""

        def register(handler: Handler) -> Handler:
            wants = frozenset(inspect.signature(handler).parameters) & INJECTABLE
            self.endpoints.append(
                Endpoint(
                    group=self.name,
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
                view_func=_view(endpoint),
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


def _view(endpoint: Endpoint) -> Callable[..., Response]:
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

    name = f"{endpoint.method} /{endpoint.group}{endpoint.rule}"
    with request_span(get_settings(), name, dict(request.headers.items())):
        return _dispatch_unit(endpoint, kwargs)


def _dispatch_unit(endpoint: Endpoint, kwargs: dict[str, Any]) -> Response:
    wants = endpoint.wants
    path_values = list(kwargs.values())
    settings = None
    if "settings" in wants or endpoint.auth != "none":
        from core.config import get_settings

        settings = get_settings()
        if "settings" in wants:
            kwargs["settings"] = settings
    if "now" in wants:
        from core.clock import utcnow

        kwargs["now"] = utcnow()
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
                caller = kwargs["caller"] = verify_bearer(settings, _bearer())
            elif endpoint.auth != "none":
                user = _authenticate(endpoint, db, settings, kwargs)
                if "user" in wants:
                    kwargs["user"] = user
        if any(isinstance(value, str) and "\x00" in value for value in path_values):
            # PostgreSQL stores no NUL, so nothing is named by such a path
            raise NotFound("nothing is found at this path", code="not_found")
        try:
            if endpoint.query is not None:
                kwargs["query"] = _parse_query(endpoint)
            if endpoint.body is not None:
                kwargs["body"] = _parse_body(endpoint)
            if endpoint.multipart:
                kwargs.update(_parse_multipart(endpoint))
        except DomainError:
            if caller is not None:  # a closed account hears 401, as on every other route
                from core.services.auth import account_of

                account_of(db, caller)
            raise
        result = endpoint.handler(**kwargs)
        # serialize inside the unit of work: a failure here rolls it back
        return _serialize(endpoint, result)
    raise AssertionError("unreachable")  # pragma: no cover


def _authenticate(endpoint: Endpoint, db: Any, settings: Any, path: dict[str, Any]) -> Any:
    from core.services.auth import authenticate

    if endpoint.auth == "optional" and not request.headers.get("Authorization"):
        return None
    also = None
    if endpoint.preload is not None:
        param, model = endpoint.preload
        also = (model, path[param])
    return authenticate(db, settings=settings, bearer=_bearer(), also=also)


def _bearer() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _parse_query(endpoint: Endpoint) -> BaseModel:
    assert endpoint.query is not None
    raw: dict[str, Any] = {}
    for key in request.args:
        values = request.args.getlist(key)
        raw[key] = values if key in endpoint.list_fields else values[-1]
    _refuse_nul(raw, ["query"])
    try:
        return endpoint.query.model_validate(raw)
    except ValidationError as exc:
        raise Invalid(
            "invalid query parameters", details=validation_details(exc, "query")
        ) from None


def _parse_body(endpoint: Endpoint) -> BaseModel:
    assert endpoint.body is not None
    from core.config import get_settings

    request.max_content_length = endpoint.max_body_bytes or get_settings().max_body_bytes
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise PayloadTooLarge("request body too large") from None
    if not data.strip():
        raise BadRequest("a JSON body is required", code="malformed_json")
    try:
        parsed = endpoint.body.model_validate_json(data)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise BadRequest("the body is not valid JSON", code="malformed_json") from None
        if any(err["type"] == "model_type" and not err["loc"] for err in exc.errors()):
            raise Invalid(
                "the body must be a JSON object", details=validation_details(exc, "body")
            ) from None
        raise Invalid("invalid request body", details=validation_details(exc, "body")) from None
    if b"\\u0000" in data:  # the only way a NUL gets into JSON text
        _refuse_nul(parsed.model_dump(mode="json"), ["body"])
    return parsed


def _parse_multipart(endpoint: Endpoint) -> dict[str, Any]:
    """`form` (the non-file fields, validated like a body) and `upload` (the one file part)."""
    from core.config import get_settings

    request.max_content_length = endpoint.max_body_bytes or get_settings().max_body_bytes
    if request.mimetype != "multipart/form-data":
        raise BadRequest("the body must be multipart/form-data", code="multipart_required")
    try:
        fields, files = request.form, request.files
    except RequestEntityTooLarge:
        raise PayloadTooLarge("request body too large") from None
    details: list[dict[str, Any]] = []
    raw: dict[str, Any] = {}
    for key in fields:
        if key == endpoint.upload:
            details.append(
                field_error(["body", key], "must be a file part (with a filename)", "file_type")
            )
        elif value := fields.getlist(key)[-1]:  # HTML forms send empty fields: absent
            raw[key] = value
    for key in files:
        if key != endpoint.upload:
            details.append(field_error(["body", key], "unexpected file", "extra_forbidden"))
    _refuse_nul(raw, ["body"])
    parsed: dict[str, Any] = {}
    if endpoint.form is not None:
        try:
            parsed["form"] = endpoint.form.model_validate(raw)
        except ValidationError as exc:
            details += validation_details(exc, "body")
    elif raw:
        details += [field_error(["body", k], "unexpected field", "extra_forbidden") for k in raw]
    if endpoint.upload is not None:
        # a browser sends an empty part without a filename when no file was chosen
        parts = [part for part in files.getlist(endpoint.upload) if part.filename]
        if len(parts) == 1:
            part = parts[0]
            parsed["upload"] = Upload(part.filename or "", part.content_type or None, part.stream)
        elif parts:
            details.append(field_error(["body", endpoint.upload], "one file only", "too_many"))
        elif endpoint.upload not in fields:
            details.append(field_error(["body", endpoint.upload], "a file is required", "missing"))
    if details:
        raise Invalid("invalid request body", details=details)
    return {name: value for name, value in parsed.items() if name in endpoint.wants}


def _refuse_nul(value: Any, loc: list[str | int]) -> None:
    """PostgreSQL stores no NUL character in text or JSONB: refuse it as a validation error
    naming the field instead of failing on write."""
    if isinstance(value, str):
        if "\x00" in value:
            raise Invalid(
                "invalid request",
                details=[field_error(loc, "NUL characters are not allowed", "nul_character")],
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key, [*loc, str(key)])
            _refuse_nul(item, [*loc, str(key)])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_nul(item, [*loc, index])


def _serialize(endpoint: Endpoint, result: Any) -> Response:
    status, headers = endpoint.status, {}
    if isinstance(result, Reply):
        status = result.status or status
        headers = result.headers
        result = result.body
    if isinstance(result, Response):
        return result
    if result is None or status == 204:
        response = Response(status=204 if result is None else status)
    else:
        payload = _to_model(endpoint.response, result)
        response = Response(payload, status=status, mimetype="application/json")
    for name, value in headers.items():
        response.headers[name] = value
    return response


def _to_model(response_model: Any, result: Any) -> bytes:
    if isinstance(result, BaseModel) and (
        response_model is None or isinstance(result, response_model)
    ):
        return result.model_dump_json().encode()
    if response_model is None:
        raise TypeError("a route returning data must declare its response model")
    adapter = _adapter(response_model)
    return bytes(adapter.dump_json(adapter.validate_python(result, from_attributes=True)))


_adapters: dict[Any, Any] = {}


def _adapter(model: Any) -> Any:
    if model not in _adapters:
        from pydantic import TypeAdapter

        _adapters[model] = TypeAdapter(model)
    return _adapters[model]
