from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Item = TypeVar("Item")


class RequestModel(BaseModel):
    """A request body or query: unknown fields are an error, never silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def optional_not_null(*names: str) -> Callable[[dict[str, Any]], None]:
    """A json_schema_extra saying these fields may be left out but are never null (the model
    still reads a null as left out): `anyOf [X, null]` becomes X."""

    def rewrite(schema: dict[str, Any]) -> None:
        for name in names:
            prop = schema.get("properties", {}).get(name)
            if prop is None or "anyOf" not in prop:
                continue
            kept = [branch for branch in prop.pop("anyOf") if branch != {"type": "null"}]
            prop.pop("default", None)
            if len(kept) == 1:
                prop.update(kept[0])
            else:
                prop["anyOf"] = kept

    return rewrite


# what Keyset hands out: base64url without padding
Cursor = Annotated[
    str,
    Field(max_length=1024, pattern=r"^[A-Za-z0-9_-]*$", json_schema_extra={"format": "cursor"}),
]


class PageQuery(RequestModel):
    limit: int = Field(default=20, ge=1, le=100, description="page size, 1..100")
    cursor: Cursor | None = Field(
        default=None,
        description="next_cursor of the previous page (opaque; one not handed out is a 422)",
    )


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


class ErrorResponse(BaseModel):
    error: ErrorBody
