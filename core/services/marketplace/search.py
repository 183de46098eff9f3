"""Searching live listings: full text with relevance, or by rating, installs or date."""

from __future__ import annotations

import typing
from typing import Any

from sqlalchemy import (
    Float,
    Select,
    String,
    cast,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.db import custom_plan
from core.errors import Unauthorized
from core.models.marketplace import (
    Listing,
    ListingSearch,
    ListingStatus,
)
from core.models.users import User
from core.pagination import Keyset, Page
from core.schemas.marketplace import (
    ListingsQuery,
)
from core.services.marketplace.rules import live_clause

ORDERS = {
    "rating": Keyset((Listing.rating_average, Listing.id), descending=True),
    "installs": Keyset((Listing.install_count, Listing.id), descending=True),
    "newest": Keyset((Listing.published_at, Listing.id), descending=True),
}
SORT_KEYS = {
    "rating": lambda listing: (listing.rating_average, listing.id),
    "installs": lambda listing: (listing.install_count, listing.id),
    "newest": lambda listing: (listing.published_at, listing.id),
}


def search_listings(db: Session, *, user: User | None, query: ListingsQuery) -> Page[Listing]:
    if query.owned and user is None:
        raise Unauthorized("sign in to list your own listings", code="unauthorized")
    sort = query.sort or ("relevance" if query.q else "newest")
    if query.q and sort == "relevance":
        return _by_relevance(db, user, query.q, query)
    if sort == "relevance":
        sort = "newest"  # without words to rank by
    stmt = select(Listing).where(*_filters(Listing, query, user))
    if query.q:
        stmt = stmt.join(ListingSearch, ListingSearch.listing_id == Listing.id).where(
            ListingSearch.search_vector.bool_op("@@")(_tsquery(query.q))
        )
    order = ORDERS[sort]
    # how many rows a category, tag or word matches varies by orders of magnitude
    rows = db.scalars(
        order.apply(stmt, query.cursor, query.limit), execution_options=custom_plan()
    ).all()
    return order.page(rows, query.limit, key=SORT_KEYS[sort])


def _by_relevance(
    db: Session, user: User | None, words: str, query: ListingsQuery
) -> Page[Listing]:
    """Rank the matches on the narrow search rows, then read only the page's listings.

    ts_rank_cd is real; as double precision it survives the cursor's JSON round trip exactly,
    so (rank, id) is a stable key as long as the words stay the same (a cursor belongs to its
    q)."""
    tsquery = _tsquery(words)
    rank = cast(func.ts_rank_cd(ListingSearch.search_vector, tsquery), Float(precision=53))
    order = Keyset((rank, ListingSearch.listing_id), descending=True)
    matches = select(ListingSearch.listing_id, rank.label("rank")).where(
        ListingSearch.search_vector.bool_op("@@")(tsquery), *_filters(ListingSearch, query, user)
    )
    # Keyset is typed for one-entity selects; this one carries the rank along
    top = order.apply(typing.cast("Select[Any]", matches), query.cursor, query.limit).subquery()
    rows = db.execute(
        select(Listing, top.c.rank)
        .join(top, top.c.listing_id == Listing.id)
        .order_by(top.c.rank.desc(), Listing.id.desc()),
        execution_options=custom_plan(),
    ).all()
    page = order.page(rows, query.limit, key=lambda row: (row[1], row[0].id))
    return Page(items=[row[0] for row in page.items], next_cursor=page.next_cursor)


def _tsquery(words: str) -> ColumnElement[Any]:
    return func.websearch_to_tsquery(literal_column("'english'::regconfig"), words)


def _filters(
    entity: type[Listing] | type[ListingSearch], query: ListingsQuery, user: User | None
) -> list[ColumnElement[bool]]:
    """The search filters, on the listings or on their search rows (same column names)."""
    if query.owned and user is not None:
        clauses = [entity.owner_id == user.id]
    else:
        clauses = [ListingSearch.live.is_(True) if entity is ListingSearch else live_clause()]
    if query.category is not None:
        clauses.append(entity.category == query.category)
    if query.tag:
        wanted = array([literal(tag, String(50)) for tag in query.tag])
        clauses.append(entity.tags.bool_op("@>")(wanted))
    if query.featured is not None:
        featured = entity.status == ListingStatus.featured
        clauses.append(featured if query.featured else ~featured)
    return clauses
