from __future__ import annotations

from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

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
    execution_id: str | None = Field(
        default=None,
        description=(
            "a 503 of a request that had started a run already: that run, which goes on once "
            "the service can reach its database (also in the `Location` header)"
        ),
    )


class ErrorResponse(BaseModel):
    error: ErrorBody
