from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, column_property, mapped_column

from core.models.base import Base, created_at, str_enum, updated_at, uuid_pk
from core.models.users import User


class ListingStatus(enum.StrEnum):
    active = "active"
    featured = "featured"
    hidden = "hidden"


class Listing(Base):
    """A published agent version: what search, sorting and the list pages read. The snapshot of
    the agent itself is the listing's latest `ListingVersion`; its full-text document is its
    `ListingSearch` row. One listing per agent: unpublishing sets `unpublished_at`, and
    publishing the agent again revives the same row with its ratings and installs."""

    __tablename__ = "agent_marketplace"
    __table_args__ = (
        Index("uq_agent_marketplace_agent_id", "agent_id", unique=True),
        Index("ix_agent_marketplace_tags", "tags", postgresql_using="gin"),
        Index("ix_agent_marketplace_category", "category", "status"),
        Index("ix_agent_marketplace_rating", "rating_average", "id"),
        Index("ix_agent_marketplace_installs", "install_count", "id"),
        Index("ix_agent_marketplace_published_at", "published_at", "id"),
        CheckConstraint("rating_count >= 0 AND install_count >= 0", name="counts_non_negative"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    agent_version: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(500), default="", server_default="")
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    category: Mapped[str] = mapped_column(String(50))
    tags: Mapped[list[str]] = mapped_column(
        ARRAY(String(50)), default=list, server_default=text("'{}'::varchar[]")
    )
    tools: Mapped[list[str]] = mapped_column(
        ARRAY(String(50)), default=list, server_default=text("'{}'::varchar[]")
    )
    status: Mapped[ListingStatus] = mapped_column(
        str_enum(ListingStatus, "listing_status"), default=ListingStatus.active
    )
    rating_sum: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rating_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rating_average: Mapped[Decimal] = mapped_column(
        Numeric(3, 2), default=Decimal("0"), server_default="0"
    )
    install_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # the pass rate of the eval that let the published version through its release gate
    eval_pass_rate: Mapped[float | None] = mapped_column(Float)
    # who published it, by name: read with the listing (a listing names its publisher)
    publisher: Mapped[str] = column_property(
        select(User.username).where(User.id == owner_id).correlate_except(User).scalar_subquery()
    )
    # when the current snapshot was published (a republish moves it)
    published_at: Mapped[datetime] = created_at()
    unpublished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = updated_at()


class ListingSearch(Base):
    """The full-text document of a listing and the columns a text search filters on, one row per
    listing, written only by the database: the `listing_search_sync` trigger on agent_marketplace
    (migration 0002) rewrites it whenever a listing's text, tags, category, status or
    publication changes. Kept apart from the listing so that ranking a common word's thousands
    of matches reads narrow rows that stay in memory.

    search_vector = display_name and name (weight A), summary and tags (B), description (C),
    English configuration."""

    __tablename__ = "listing_search"
    __table_args__ = (Index("ix_listing_search_vector", "search_vector", postgresql_using="gin"),)

    listing_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agent_marketplace.id", ondelete="CASCADE"), primary_key=True
    )
    owner_id: Mapped[uuid.UUID]
    category: Mapped[str] = mapped_column(String(50))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)))
    status: Mapped[ListingStatus] = mapped_column(str_enum(ListingStatus, "listing_status"))
    # published and not hidden: anyone may find it
    live: Mapped[bool]
    search_vector: Mapped[Any] = mapped_column(TSVECTOR)


class Rating(Base):
    __tablename__ = "agent_ratings"
    __table_args__ = (
        Index("uq_agent_ratings_listing_id_user_id", "listing_id", "user_id", unique=True),
        Index("ix_agent_ratings_listing_id_updated_at", "listing_id", "updated_at", "id"),
        CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    listing_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agent_marketplace.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    score: Mapped[int] = mapped_column(SmallInteger)
    review: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class ListingVersion(Base):
    """Every snapshot a listing has published; the latest is the current one. Rows are never
    updated. A snapshot holds the agent's name, display_name, description, version, agent_type
    and definition (without secret tool settings)."""

    __tablename__ = "listing_versions"
    __table_args__ = (
        Index("ix_listing_versions_listing_id_published_at", "listing_id", "published_at", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    listing_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agent_marketplace.id", ondelete="CASCADE")
    )
    agent_version: Mapped[str] = mapped_column(String(32))
    tools: Mapped[list[str]] = mapped_column(
        ARRAY(String(50)), default=list, server_default=text("'{}'::varchar[]")
    )
    snapshot: Mapped[dict[str, Any]]
    published_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    published_at: Mapped[datetime] = created_at()


class ListingInstall(Base):
    """Who installed a listing: one row per user (the rating rule reads it), however often they
    install it; `agent_id` is their latest copy."""

    __tablename__ = "listing_installs"

    listing_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agent_marketplace.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    agent_version: Mapped[str] = mapped_column(String(32))
    install_total: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    first_installed_at: Mapped[datetime] = created_at()
    last_installed_at: Mapped[datetime] = created_at()
