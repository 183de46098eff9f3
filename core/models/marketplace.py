from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    CheckConstraint,
    Computed,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, created_at, str_enum, updated_at, uuid_pk


class ListingStatus(enum.StrEnum):
    active = "active"
    featured = "featured"
    hidden = "hidden"


SEARCH_VECTOR_SQL = (
    "setweight(to_tsvector('english', coalesce(display_name, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(summary, '')), 'B') || "
    "setweight(to_tsvector('english', coalesce(tags_text, '')), 'B') || "
    "setweight(to_tsvector('english', coalesce(description, '')), 'C')"
)


class Listing(Base):
    """A published, immutable snapshot of one agent version."""

    __tablename__ = "agent_marketplace"
    __table_args__ = (
        Index("uq_agent_marketplace_agent_id", "agent_id", unique=True),
        Index("ix_agent_marketplace_search", "search_vector", postgresql_using="gin"),
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
    # tags joined by spaces: array_to_string is not immutable, so the generated search
    # vector reads this plain column instead
    tags_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    tools: Mapped[list[str]] = mapped_column(
        ARRAY(String(50)), default=list, server_default=text("'{}'::varchar[]")
    )
    snapshot: Mapped[dict[str, Any]]
    status: Mapped[ListingStatus] = mapped_column(
        str_enum(ListingStatus, "listing_status"), default=ListingStatus.active
    )
    rating_sum: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rating_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rating_average: Mapped[Decimal] = mapped_column(
        Numeric(3, 2), default=Decimal("0"), server_default="0"
    )
    install_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    search_vector: Mapped[Any] = mapped_column(
        TSVECTOR, Computed(SEARCH_VECTOR_SQL, persisted=True)
    )
    published_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


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
