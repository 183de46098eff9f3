"""Rating a listing one has installed (once, updatable) and reading its ratings."""

from __future__ import annotations

import typing
import uuid
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    Select,
    func,
    select,
)
from sqlalchemy.orm import Session

from core.errors import Forbidden
from core.models.marketplace import (
    ListingInstall,
    Rating,
)
from core.models.users import User
from core.pagination import Keyset, Page
from core.schemas.marketplace import (
    RatingCreate,
    RatingPublic,
)
from core.services.marketplace.rules import listing_for, require_live

RATINGS_ORDER = Keyset((Rating.updated_at, Rating.id), descending=True)


def rate_listing(
    db: Session, *, user: User, listing_id: uuid.UUID, data: RatingCreate, now: datetime
) -> tuple[RatingPublic, bool]:
    """Create or replace the caller's rating; returns it and whether it is new. The listing row
    stays locked until commit, so concurrent raters of one listing take turns and the totals,
    recomputed from the ratings themselves, are exact."""
    listing = listing_for(db, user, listing_id, for_update=True)
    require_live(listing)
    if listing.owner_id == user.id:
        raise Forbidden("you cannot rate your own listing", code="own_listing")
    installed = db.get(ListingInstall, (listing.id, user.id))
    if installed is None:
        raise Forbidden("only users who installed this listing may rate it", code="not_installed")
    rating = db.scalar(
        select(Rating).where(Rating.listing_id == listing.id, Rating.user_id == user.id)
    )
    created = rating is None
    if rating is None:
        rating = Rating(listing_id=listing.id, user_id=user.id, created_at=now)
        db.add(rating)
    rating.score = data.score
    rating.review = data.review
    rating.updated_at = now  # the ratings list is ordered by it
    db.flush()
    count, total = db.execute(
        select(func.count(), func.coalesce(func.sum(Rating.score), 0)).where(
            Rating.listing_id == listing.id
        )
    ).one()
    listing.rating_count = count
    listing.rating_sum = total
    listing.rating_average = _average(total, count)
    db.flush()
    return _rating_public(rating, user.username), created


def list_ratings(
    db: Session, *, user: User | None, listing_id: uuid.UUID, cursor: str | None, limit: int
) -> Page[RatingPublic]:
    listing_for(db, user, listing_id)
    stmt = (
        select(Rating, User.username)
        .join(User, User.id == Rating.user_id)
        .where(Rating.listing_id == listing_id)
    )
    # Keyset is typed for one-entity selects; this one adds the author's name
    rows = db.execute(RATINGS_ORDER.apply(typing.cast("Select[Any]", stmt), cursor, limit)).all()
    page = RATINGS_ORDER.page(rows, limit, key=lambda row: (row[0].updated_at, row[0].id))
    return Page(
        items=[_rating_public(row[0], row[1]) for row in page.items],
        next_cursor=page.next_cursor,
    )


def _average(total: int, count: int) -> Decimal:
    if count == 0:
        return Decimal("0")
    return (Decimal(total) / count).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _rating_public(rating: Rating, username: str) -> RatingPublic:
    return RatingPublic(
        id=rating.id,
        listing_id=rating.listing_id,
        user_id=rating.user_id,
        username=username,
        score=rating.score,
        review=rating.review,
        created_at=rating.created_at,
        updated_at=rating.updated_at,
    )
