"""A request's query, JSON body and multipart form, parsed with the endpoint's schemas into
the contract's errors: 400 malformed JSON, 413 too large, 422 naming each bad field."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from core.errors import (
    BadRequest,
    Invalid,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
    field_error,
)
from core.http.endpoint import Endpoint, Upload
from core.http.errors import validation_details
from core.json_schema import json_nesting


def parse_query(endpoint: Endpoint) -> BaseModel:
    assert endpoint.query is not None
    raw: dict[str, Any] = {}
    for key in request.args:
        values = request.args.getlist(key)
        raw[key] = values if key in endpoint.list_fields else values[-1]
    _refuse_unstorable(raw, ["query"])
    try:
        return endpoint.query.model_validate(raw)
    except ValidationError as exc:
        raise Invalid(
            "invalid query parameters", details=validation_details(exc, "query")
        ) from None


def parse_body(endpoint: Endpoint) -> BaseModel:
    assert endpoint.body is not None
    from core.config import get_settings

    request.max_content_length = endpoint.max_body_bytes or get_settings().max_body_bytes
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise PayloadTooLarge("request body too large") from None
    except (TimeoutError, ClientDisconnected):  # a WSGI server whose body reads time out
        raise RequestTimeout() from None
    if not _is_json(request.mimetype):
        if endpoint.multipart:
            raise UnsupportedMediaType(
                "the body must be JSON (Content-Type: application/json) or multipart/form-data",
                code="json_or_multipart_required",
            )
        raise UnsupportedMediaType(
            "the body must be JSON (Content-Type: application/json)", code="json_required"
        )
    if not data.strip():
        raise BadRequest("a JSON body is required", code="malformed_json")
    try:
        unread = getattr(endpoint.body, "UNREAD", ())
        parsed = endpoint.body.model_validate_json(_normalized_json(data, unread), strict=True)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise BadRequest("the body is not valid JSON", code="malformed_json") from None
        if any(err["type"] == "model_type" and not err["loc"] for err in exc.errors()):
            raise Invalid(
                "the body must be a JSON object", details=validation_details(exc, "body")
            ) from None
        raise Invalid("invalid request body", details=validation_details(exc, "body")) from None
    return parsed


def parse_multipart(endpoint: Endpoint) -> dict[str, Any]:
    """`form` (the non-file fields, validated like a body) and `upload` (the one file part)."""
    from core.config import get_settings

    request.max_content_length = endpoint.max_body_bytes or get_settings().max_body_bytes
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType(
            "the body must be multipart/form-data", code="multipart_required"
        )
    try:
        fields, files = request.form, request.files
    except RequestEntityTooLarge:
        raise PayloadTooLarge("request body too large") from None
    except (TimeoutError, ClientDisconnected):
        raise RequestTimeout() from None
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
    _refuse_unstorable(raw, ["body"])
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


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


# deeper JSON is refused before validation (definitions and metadata nest a few levels)
MAX_JSON_DEPTH = 64


def _normalized_json(data: bytes, unread: tuple[str, ...] = ()) -> bytes:
    """The body as the contract reads it: JSON without NaN or Infinity (not JSON), nested at
    most MAX_JSON_DEPTH levels, a number with no fraction an integer (4.0 is the integer 4, as
    JSON Schema has it; 4.5 stays a number), then validated strictly: a boolean is true or
    false, an integer is not "4"."""
    try:
        value = json.loads(data, parse_float=_number, parse_constant=_not_json)
    except RecursionError:
        raise _too_deep() from None
    except ValueError:
        raise BadRequest("the body is not valid JSON", code="malformed_json") from None
    if json_nesting(value) > MAX_JSON_DEPTH:
        raise _too_deep()
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_unstorable(key, ["body", key])
            _refuse_unstorable(item, ["body", key], nul=key not in unread)
    else:
        _refuse_unstorable(value, ["body"])
    return json.dumps(value, ensure_ascii=False).encode()


def _number(text: str) -> int | float:
    number = float(text)
    return int(number) if number.is_integer() and abs(number) < 2**63 else number


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _too_deep() -> Invalid:
    return Invalid(
        f"the body nests deeper than {MAX_JSON_DEPTH} levels",
        details=[field_error(["body"], f"at most {MAX_JSON_DEPTH} levels", "too_deep")],
    )


def _refuse_unstorable(value: Any, loc: list[str | int], *, nul: bool = True) -> None:
    """PostgreSQL stores no NUL character, and no text is a lone surrogate (a `\\ud800` escape
    that JSON allows and UTF-8 cannot encode): refuse either as a validation error naming the
    field instead of failing on write. A body's UNREAD fields (never read, never stored) may
    hold a NUL."""
    if isinstance(value, str):
        if nul and "\x00" in value:
            raise Invalid(
                "invalid request",
                details=[field_error(loc, "NUL characters are not allowed", "nul_character")],
            )
        if _SURROGATE.search(value):
            raise Invalid(
                "invalid request",
                details=[
                    field_error(
                        loc,
                        "a lone surrogate (\\ud800-\\udfff) is not a Unicode character",
                        "lone_surrogate",
                    )
                ],
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_unstorable(key, [*loc, str(key)], nul=nul)
            _refuse_unstorable(item, [*loc, str(key)], nul=nul)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_unstorable(item, [*loc, index], nul=nul)


_SURROGATE = re.compile("[\ud800-\udfff]")
