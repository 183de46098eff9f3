"""OpenAPI 3.1 generated from the route groups and their pydantic schemas (apispec assembles
the document; pydantic writes the JSON Schemas). Imported only when /openapi.json is asked for."""

from __future__ import annotations

import copy
import json
import re
import typing
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from apispec import APISpec
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from core import __version__
from core.http.endpoint import Endpoint, NoBody
from core.http.routes import RouteGroup, full_rule
from core.json_schema import NESTS_FREELY
from core.schemas.ag_ui import UNREAD_MARK
from core.schemas.common import FREE_JSON_LEVELS, ErrorResponse

_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
REF = "#/components/schemas/{model}"
ERROR_STATUSES = {
    400: "malformed request",
    401: "missing or invalid bearer token",
    403: "authenticated but not allowed",
    404: "missing, or not visible to the caller",
    409: "conflicts with the current state",
    408: "the body stopped arriving for REQUEST_BODY_TIMEOUT_S",
    413: "body too large",
    414: "the URL is too long",
    415: "the body is not of the documented media type",
    422: "validation failed; details name each field path",
    429: "limit reached: RATE_LIMIT_PER_MINUTE (`rate_limited`) or a quota; see Retry-After",
    503: (
        "a dependency (the database) is unavailable: retry after `Retry-After`. A request "
        "that had started a run names it (`error.execution_id` and `Location`): it goes on"
    ),
}


def openapi_path(rule: str) -> str:
    return _CONVERTER.sub(lambda m: "{" + m.group(2) + "}", rule)


def openapi_json(groups: Sequence[RouteGroup], *, title: str) -> str:
    return _cached(tuple(groups), title)


@lru_cache(maxsize=8)
def _cached(groups: tuple[RouteGroup, ...], title: str) -> str:
    return json.dumps(build_openapi(groups, title=title))


def build_openapi(groups: Sequence[RouteGroup], *, title: str) -> dict[str, Any]:
    spec = APISpec(
        title=title,
        version=__version__,
        openapi_version="3.1.0",
        info={
            "description": (
                "Every error answers the one error body. Browsers: a CORS preflight (OPTIONS "
                "with Access-Control-Request-Method) on any path answers 204 to an origin listed "
                "in ALLOWED_ORIGINS and 403 `origin_not_allowed` to any other. /console serves the "
                "web console (HTML and its assets), which is not part of this document."
            )
        },
    )
    spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    groups = [g for g in groups if g.documented]
    endpoints = [e for g in groups for e in g.endpoints]
    schemas = _component_schemas(endpoints)
    for name, schema in sorted(schemas.items()):
        spec.components.schema(name, schema)
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        path = openapi_path(full_rule(endpoint.prefix, endpoint.rule))
        paths.setdefault(path, {})[endpoint.method.lower()] = _operation(endpoint)
    _link_created_to_their_operations(paths)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    for group in groups:
        spec.tag({"name": group.name, "description": group.description})
    document = spec.to_dict()
    _hoist_titled_branches(document["components"]["schemas"])
    for schema in _request_schemas(document):
        _say_no_nul(schema)
    for level in range(FREE_JSON_LEVELS + 1):
        for chain in (JSON_VALUE, SCHEMA_VALUE):
            document["components"]["schemas"][_json_value_name(level, chain)] = _json_value_schema(
                level, chain
            )
    return document


_ONE_PARAMETER = re.compile(r"^(/[^{}]+)/\{(\w+)\}$")


def _link_created_to_their_operations(paths: dict[str, dict[str, Any]]) -> None:
    """OpenAPI links from every operation that answers an object with an `id` (a create, a run,
    an install) to every operation on that object: the object's own path is the one whose GET
    answers the same schema, and the link fills its parameter from `$response.body#/id`."""
    resources: dict[str, tuple[str, str]] = {}  # response schema → (object path, its parameter)
    for path, operations in paths.items():
        match = _ONE_PARAMETER.match(path)
        schema = _success_schema(operations.get("get", {}))
        if match and schema:
            resources.setdefault(schema, (path, match.group(2)))
    for operations in paths.values():
        for method, operation in operations.items():
            if method == "get":
                continue
            schema = _success_schema(operation)
            if schema not in resources:
                continue
            resource, parameter = resources[schema]
            links = {
                target["operationId"]: {
                    "operationId": target["operationId"],
                    "parameters": {parameter: "$response.body#/id"},
                }
                for path, targets in paths.items()
                if path == resource or path.startswith(resource + "/")
                for target in targets.values()
            }
            for status, response in operation["responses"].items():
                if status.startswith("2") and "content" in response:
                    response["links"] = links


def _success_schema(operation: dict[str, Any]) -> str | None:
    for status, response in operation.get("responses", {}).items():
        if status.startswith("2"):
            ref = response.get("content", {}).get("application/json", {}).get("schema", {})
            return ref.get("$ref") if isinstance(ref, dict) else None
    return None


# one server-sent event, as Open API 3.1 has a stream's `schema` describe each of its events
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "description": "one event: `event` its kind, `data` its JSON, `id` its seq where it has one",
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    },
    "required": ["data"],
}

# PostgreSQL stores no NUL character: the service refuses it in every string of a request (422)
NO_NUL = "^[^\\u0000]*$"
# any JSON value without NUL, in a request's free-form objects (metadata, state, profile, input),
# spelled out level by level rather than recursively: client generators (openapi-python-client)
# drop every schema that reaches a recursive one. The last level holds scalars only, as the
# service has it (FREE_JSON_LEVELS).
JSON_VALUE = "JsonValue"
# the same spelled out for a JSON Schema's keywords (an output schema): no bound on the depth
SCHEMA_VALUE = "SchemaValue"


SCALARS: list[dict[str, Any]] = [
    {"type": "string", "pattern": NO_NUL},
    {"type": "number"},
    {"type": "boolean"},
    {"type": "null"},
]


def _json_value_name(level: int, chain: str = JSON_VALUE) -> str:
    return chain if level == 0 else f"{chain}{level + 1}"


def _json_value_schema(level: int, chain: str = JSON_VALUE) -> dict[str, Any]:
    """One level of a chain: JsonValue's last level holds scalars (the service's bound);
    SchemaValue's (a JSON Schema, which nests as deep as the output it describes) anything."""
    below = level + 1
    ref = {"$ref": REF.format(model=_json_value_name(below, chain))}
    if level == FREE_JSON_LEVELS:
        if chain == SCHEMA_VALUE:
            return {"description": "any JSON value; no NUL character in a string or a key"}
        return {"description": "a JSON scalar", "anyOf": SCALARS}
    return {
        "description": "any JSON value; no NUL character in a string or a key",
        "anyOf": [
            *SCALARS,
            {"type": "array", "items": ref},
            {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": ref},
        ],
    }


def _hoist_titled_branches(components: dict[str, Any]) -> None:
    """A union's inline object branches that have a title become components of that name: a
    client generator names its models after them (openapi-python-client makes an inline
    branch's inline objects twice, and then drops them as duplicates)."""
    for schema in list(components.values()):
        for key in ("oneOf", "anyOf"):
            branches = schema.get(key, [])
            for index, branch in enumerate(branches):
                title = branch.get("title")
                if branch.get("type") == "object" and title and title not in components:
                    components[title] = branch
                    branches[index] = {"$ref": REF.format(model=title)}


def _request_schemas(document: dict[str, Any]) -> list[Any]:
    """The parameters and bodies of every operation, and every component they reach: what the
    service reads (an answer may hold deeper JSON than a request may, a run's output say)."""
    components = document["components"]["schemas"]
    found: list[Any] = []
    for operations in document["paths"].values():
        for operation in operations.values():
            found += operation.get("parameters", [])
            if "requestBody" in operation:
                found.append(operation["requestBody"])
    names: set[str] = set()
    stack = list(found)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in names:
                    names.add(name)
                    stack.append(components[name])
            stack += node.values()
        elif isinstance(node, list):
            stack += node
    return found + [components[name] for name in sorted(names)]


def _say_no_nul(node: Any) -> None:
    """Give every free-form string of the document (and the keys of every free-form object)
    the pattern that says so; not the error body, which may quote what was refused."""
    if isinstance(node, dict):
        if node.get("title") in ("ErrorResponse", "ErrorBody", "ErrorDetail"):
            return
        if node.get(UNREAD_MARK):
            return
        if node.get("additionalProperties") == NESTS_FREELY:
            node["additionalProperties"] = {"$ref": REF.format(model=SCHEMA_VALUE)}
        for key in ("anyOf", "oneOf"):  # an "anything" branch is any storable JSON value
            if key in node:
                node[key] = [
                    b if b != {} else {"$ref": REF.format(model=JSON_VALUE)} for b in node[key]
                ]
        if node.get("items") == {}:
            node["items"] = {"$ref": REF.format(model=JSON_VALUE)}
        if isinstance(node.get("properties"), dict):
            for name, prop in node["properties"].items():
                if prop == {}:
                    node["properties"][name] = {"$ref": REF.format(model=JSON_VALUE)}
        if node.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(node):
            node["pattern"] = NO_NUL
        if node.get("type") == "object" and "patternProperties" in node:
            # pydantic refuses a key that fits none of the patterns (a header name, say)
            node.setdefault("additionalProperties", False)
        if node.get("type") == "object" and node.get("additionalProperties", True) is not False:
            node.setdefault("propertyNames", {"pattern": NO_NUL})
            if node.get("additionalProperties", True) in (True, {}):
                node["additionalProperties"] = {"$ref": REF.format(model=JSON_VALUE)}
        for value in node.values():
            _say_no_nul(value)
    elif isinstance(node, list):
        for value in node:
            _say_no_nul(value)


def _component_schemas(endpoints: list[Endpoint]) -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Any]] = [(ErrorResponse, "serialization")]
    for endpoint in endpoints:
        if endpoint.body is not None:
            models.append((endpoint.body, "validation"))
        if endpoint.form is not None:
            models.append((endpoint.form, "validation"))
        if _is_model(endpoint.response):
            models.append((endpoint.response, "serialization"))
        elif _is_model(_list_item(endpoint.response)):
            models.append((_list_item(endpoint.response), "serialization"))
    _, top = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
    return dict(top.get("$defs", {}))


def _list_item(value: Any) -> Any:
    """X for a `list[X]` response, else None."""
    args = typing.get_args(value)
    return args[0] if typing.get_origin(value) is list and args else None


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {
        "$ref": REF.format(
            model=model.__name__.replace("[", "_")
            .replace("]", "_")
            .replace(",", "_")
            .replace(" ", "")
        )
    }


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    doc = (endpoint.handler.__doc__ or "").strip()
    operation: dict[str, Any] = {
        "tags": [endpoint.group],
        "operationId": f"{endpoint.group}_{endpoint.name}",
        "summary": endpoint.summary,
        "parameters": _parameters(endpoint),
        "responses": _responses(endpoint),
    }
    if doc and doc != endpoint.summary:
        operation["description"] = doc
    if endpoint.auth == "none":
        operation["security"] = []
    elif endpoint.auth == "optional":
        operation["security"] = [{}, {"bearer": []}]
    else:
        operation["security"] = [{"bearer": []}]
    content: dict[str, Any] = {}
    if endpoint.body is not None:
        content["application/json"] = {"schema": _ref(endpoint.body)}
    if endpoint.multipart:  # beside JSON when a route takes either
        content["multipart/form-data"] = {"schema": _multipart_schema(endpoint)}
    if content:
        operation["requestBody"] = {"required": True, "content": content}
    return operation


def _multipart_schema(endpoint: Endpoint) -> dict[str, Any]:
    """The form model's fields inline (form fields are flat) plus the file field as binary."""
    schema: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
    if endpoint.form is not None:
        fields = endpoint.form.model_json_schema(ref_template=REF)
        schema["properties"].update(fields.get("properties", {}))
        schema["required"] += fields.get("required", [])
        if fields.get("additionalProperties") is False:
            schema["additionalProperties"] = False
    if endpoint.upload is not None:
        schema["properties"][endpoint.upload] = {
            "type": "string",
            "format": "binary",
            "contentMediaType": "application/octet-stream",
            "description": "the file's bytes; its filename and Content-Type are kept",
        }
        schema["required"].append(endpoint.upload)
    return schema


def _parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": _path_schema(converter)}
        for converter, name in _CONVERTER.findall(endpoint.rule)
    ]
    if endpoint.query is not None:
        schema = endpoint.query.model_json_schema(ref_template=REF)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            param: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": {k: v for k, v in prop.items() if k not in ("title", "description")},
            }
            if "description" in prop:
                param["description"] = prop["description"]
            if name in endpoint.list_fields:
                param["explode"] = True
            params.append(param)
    return params


def _path_schema(converter: str) -> dict[str, Any]:
    if converter == "uuid":
        return {"type": "string", "format": "uuid"}
    if converter == "int":
        return {"type": "integer"}
    return {"type": "string"}


def _responses(endpoint: Endpoint) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if endpoint.streams and endpoint.response is None:
        responses[str(endpoint.status)] = {
            "description": f"with `Accept: text/event-stream` or not, {endpoint.streams}",
            "content": {"text/event-stream": {"schema": copy.deepcopy(SSE_EVENT)}},
        }
    elif endpoint.status == 204 or endpoint.response is None:
        responses[str(endpoint.status)] = {"description": "done"}
    else:
        schema: dict[str, Any]
        if _is_model(endpoint.response):
            schema = _ref(endpoint.response)
        elif _is_model(_list_item(endpoint.response)):
            schema = {"type": "array", "items": _ref(_list_item(endpoint.response))}
        else:  # plain types such as dict[str, int]
            schema = TypeAdapter(endpoint.response).json_schema(ref_template=REF)
        responses[str(endpoint.status)] = {
            "description": "success",
            "content": {"application/json": {"schema": schema}},
        }
        if endpoint.streams:
            success = responses["200"]
            success["description"] = (
                f"success; with `Accept: text/event-stream`, {endpoint.streams}"
            )
            success["content"]["text/event-stream"] = {"schema": copy.deepcopy(SSE_EVENT)}
    error_body = {"application/json": {"schema": _ref(ErrorResponse)}}
    for status, description in endpoint.responses.items():
        response: dict[str, Any] = {"description": description}
        if status >= 400:  # every error answers the one error body
            response["content"] = error_body
        elif isinstance(description, NoBody):
            pass
        elif status < 300 and str(endpoint.status) in responses:  # another success, same body
            success = responses[str(endpoint.status)]
            if "content" in success:
                response["content"] = copy.deepcopy(success["content"])
        responses.setdefault(str(status), response)
    has_body = endpoint.body is not None or endpoint.multipart
    errors = {400, 404, 408, 413, 414, 415, 422, 503} if has_body else {404, 414, 422, 503}
    if endpoint.auth != "none":
        errors |= {401, 403, 429}
    for status in sorted(errors):
        responses.setdefault(
            str(status),
            {
                "description": ERROR_STATUSES[status],
                "content": {"application/json": {"schema": _ref(ErrorResponse)}},
            },
        )
    responses["503"]["headers"] = {**RETRY_AFTER, **RUN_LOCATION}
    if endpoint.auth != "none":
        responses["429"]["headers"] = {**RETRY_AFTER, **RATE_LIMIT_FIELDS}
        for code, answer in responses.items():  # the budget left, on every answer
            if code.startswith("2"):
                answer["headers"] = RATE_LIMIT_FIELDS
    return responses


RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}
RUN_LOCATION = {
    "Location": {
        "description": "the run the request had started, when it goes on despite the error",
        "schema": {"type": "string"},
    }
}
# what every answer to an authenticated request carries (RATE_LIMIT_PER_MINUTE)
RATE_LIMIT_FIELDS = {
    "RateLimit": {
        "description": 'the caller\'s budget left: `"minute";r=<left>;t=<seconds to reset>`',
        "schema": {"type": "string"},
    },
    "RateLimit-Policy": {
        "description": 'RATE_LIMIT_PER_MINUTE: `"minute";q=<limit>;w=60`',
        "schema": {"type": "string"},
    },
}
