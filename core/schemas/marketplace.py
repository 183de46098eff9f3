"""API schemas of marketplace listings, their published versions and ratings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from core.models.marketplace import ListingStatus
from core.schemas.common import PageQuery, RequestModel, ResponseModel

MAX_TAGS = 10
SLUG = r"^[a-z0-9][a-z0-9-]*$"
# what a client may send: a slug in any case (pydantic leaves the pattern of a field it
# pre-processes out of the JSON schema, so the document says it here)
ANY_CASE_SLUG = {"pattern": r"^[A-Za-z0-9][A-Za-z0-9-]*$"}


def _lowered(value: Any) -> Any:
    # ASCII only: "\u212a" (the Kelvin sign) must not slip in as "k"
    return value.lower() if isinstance(value, str) and value.isascii() else value


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


Category = Annotated[
    str,
    BeforeValidator(_lowered),
    Field(
        min_length=1,
        max_length=50,
        pattern=SLUG,
        description="letters, digits and '-', stored in lower case",
        json_schema_extra=ANY_CASE_SLUG,
    ),
]
Tag = Annotated[
    str,
    BeforeValidator(_lowered),
    Field(
        min_length=1,
        max_length=50,
        pattern=SLUG,
        description="like a category",
        json_schema_extra=ANY_CASE_SLUG,
    ),
]
Tags = Annotated[
    list[Tag],
    Field(max_length=MAX_TAGS, description=f"at most {MAX_TAGS}; duplicates are dropped"),
    AfterValidator(_unique),
]
Summary = Annotated[str, Field(max_length=500)]
Sort = Literal["relevance", "rating", "installs", "newest"]


class ListingCreate(RequestModel):
    agent_id: uuid.UUID
    category: Category
    tags: Tags = Field(default_factory=list)
    summary: Summary = ""


class ListingUpdate(RequestModel):
    summary: Summary | None = None
    category: Category | None = None
    tags: Tags | None = None
    republish: bool = Field(
        default=False,
        description="publish the agent's current version (the previous snapshot stays in the "
        "listing's versions); also brings an unpublished listing back",
    )
    status: ListingStatus | None = Field(default=None, description="moderators and admins only")


class ListingsQuery(PageQuery):
    q: Annotated[str | None, BeforeValidator(_blank_is_none)] = Field(
        default=None,
        max_length=200,
        description='full-text search (web search syntax: words, "a phrase", -word, or)',
    )
    category: Category | None = None
    tag: list[Tag] = Field(
        default_factory=list, max_length=MAX_TAGS, description="repeatable; all must match"
    )
    featured: bool | None = Field(
        default=None, description="true: featured only; false: not featured"
    )
    owned: bool | None = Field(
        default=None,
        description="true: only the caller's own listings, hidden and unpublished ones included "
        "(needs a token)",
    )
    sort: Sort | None = Field(
        default=None,
        description="default: relevance with q, newest without; relevance without q is newest",
    )


class ListingPublic(ResponseModel):
    id: uuid.UUID
    agent_id: uuid.UUID
    agent_version: str
    owner_id: uuid.UUID
    publisher: str = Field(description="the username of who published it")
    name: str
    display_name: str
    summary: str
    description: str
    category: str
    tags: list[str]
    tools: list[str] = Field(description="names of the tools the agent enables")
    status: ListingStatus
    rating_average: float
    rating_count: int
    install_count: int
    eval_pass_rate: float | None = Field(
        ge=0,
        le=1,
        description="the share of its release gate's eval cases the published version passed "
        "(null: the agent has no release gate)",
    )
    published_at: datetime = Field(description="when the current version was published")
    unpublished_at: datetime | None
    updated_at: datetime


class ListingDetail(ListingPublic):
    installed: bool = Field(
        description="whether the caller installed it (rating needs that); false when anonymous"
    )
    snapshot: dict[str, Any] = Field(
        description="the published agent: name, display_name, description, version, "
        "agent_type and definition (secret tool settings removed)"
    )


class ListingVersionPublic(ResponseModel):
    agent_version: str
    tools: list[str]
    snapshot: dict[str, Any]
    published_by: uuid.UUID | None
    published_at: datetime


class RatingCreate(RequestModel):
    score: int = Field(ge=1, le=5, strict=True, description="1..5, a JSON integer")
    review: str | None = Field(default=None, max_length=2000)


class RatingPublic(ResponseModel):
    id: uuid.UUID
    listing_id: uuid.UUID
    user_id: uuid.UUID
    username: str
    score: int
    review: str | None
    created_at: datetime
    updated_at: datetime
