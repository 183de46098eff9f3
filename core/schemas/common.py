from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Item = TypeVar("Item")


class RequestModel(BaseModel):
    """A request body or query: unknown fields are an error, never silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PageQuery(RequestModel):
    limit: int = Field(default=20, ge=1, le=100, description="page size, 1..100")
    cursor: str | None = Field(
        default=None, max_length=1024, description="next_cursor of the previous page"
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
