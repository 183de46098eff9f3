from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from core.json_schema import json_nesting

Item = TypeVar("Item")


def absent_not_null(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """json_schema_extra of a RequestModel: its NOT_NULL fields may be left out but are never
    null (`anyOf [X, null]` becomes X), as its validation has it."""
    for name in getattr(model, "NOT_NULL", ()):
        prop = schema.get("properties", {}).get(name)
        if prop is None or "anyOf" not in prop:
            continue
        kept = [branch for branch in prop.pop("anyOf") if branch != {"type": "null"}]
        prop.pop("default", None)
        if len(kept) == 1:
            prop.update(kept[0])
        else:
            prop["anyOf"] = kept


# Free-form JSON (metadata, state, profile, an object input): below the object itself, arrays
# and objects nest at most FREE_JSON_LEVELS deep. JSON Schema cannot say "no NUL at any depth"
# without a recursive schema, which client generators drop; the document spells the levels out
# instead (core.http.openapi), and the service holds to the same bound.
FREE_JSON_LEVELS = 4


def within_free_json_levels(value: dict[str, Any]) -> dict[str, Any]:
    if json_nesting(value) > FREE_JSON_LEVELS + 1:  # the object itself is one
        raise PydanticCustomError(
            "too_deep",
            "free-form JSON nests at most {levels} arrays or objects below its object",
            {"levels": FREE_JSON_LEVELS},
        )
    return value


class RequestModel(BaseModel):
    """A request body or query: unknown fields are an error, never silently dropped. Fields
    named in NOT_NULL may be left out, but an explicit null is refused (and the document says
    so: `absent_not_null`)."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=False, json_schema_extra=absent_not_null
    )
    NOT_NULL: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _refuse_null(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in cls.NOT_NULL:
                if name in data and data[name] is None:
                    raise PydanticCustomError(
                        "not_null", "{name} may be left out, but not null", {"name": name}
                    )
        return data


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# a cursor's parts (core.pagination): a number (a time is microseconds since 1970 UTC) or a UUID
CURSOR_NUMBER = r"-?[0-9]{1,20}(?:\.[0-9]{1,20})?(?:e[-+]?[0-9]{1,3})?"
CURSOR_UUID = r"[0-9a-f]{32}"
_CURSOR_PARTS = {"number": CURSOR_NUMBER, "uuid": CURSOR_UUID}


def cursor_field(*shape: str, default_limit: int = 20, max_limit: int = 100) -> Any:
    """The `cursor` of a list whose sort key has these parts ("number", "uuid"): any value of
    that shape is a position in the list."""
    pattern = "^" + "_".join(_CURSOR_PARTS[part] for part in shape) + "$"
    return Field(
        default=None,
        max_length=200,
        pattern=pattern,
        description="next_cursor of the previous page: the last row's sort key ("
        + ", ".join(shape)
        + ", joined by _); any key of that shape pages on from it",
    )


class PageQuery(RequestModel):
    limit: int = Field(default=20, ge=1, le=100, description="page size, 1..100")
    cursor: str | None = cursor_field("number", "uuid")


class PageOf(ResponseModel, Generic[Item]):
    items: list[Item]
    next_cursor: str | None = None


class ErrorDetail(BaseModel):
    loc: list[str | int] = []
    path: str = Field(
        default="", description='the field as a JSON path: "definition.tools[0].name"'
    )
    msg: str
    type: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] = []
    execution_id: str | None = Field(
        default=None,
        description=(
            "a 503 of a request that had started a run already: that run, which goes on once "
            "the service can reach its database (also in the `Location` header); a 502 "
            "`run_failed` of /v1/chat/completions: the run that failed"
        ),
    )
    type: str | None = Field(
        default=None,
        description="the OpenAI-compatible routes (/v1) only: OpenAI's error type "
        "(invalid_request_error, authentication_error, permission_error, not_found_error, "
        "rate_limit_error, server_error)",
    )
    param: str | None = Field(
        default=None, description="the OpenAI-compatible routes (/v1) only: the field at fault"
    )


class ErrorResponse(BaseModel):
    error: ErrorBody
