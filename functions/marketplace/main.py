"""Cloud Function `marketplace`: publish agents, search listings, moderate, rate and install.
Reading (search, a listing, its versions and ratings) needs no token."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from core.config import Settings
from core.http import Reply, RouteGroup
from core.http.app import function_entry
from core.models.agents import Agent
from core.models.marketplace import Listing, ListingVersion
from core.models.users import User
from core.pagination import Page
from core.schemas.agents import AgentPublic
from core.schemas.common import PageOf, PageQuery
from core.schemas.marketplace import (
    ListingCreate,
    ListingDetail,
    ListingPublic,
    ListingsQuery,
    ListingUpdate,
    ListingVersionPublic,
    RatingCreate,
    RatingPublic,
)
from core.services import marketplace as service

routes = RouteGroup("marketplace", description="published agents: search, ratings, installs")


@routes.post(
    "",
    body=ListingCreate,
    response=ListingDetail,
    status=201,
    responses={409: "the agent is already listed, or a workflow step is neither public nor listed"},
)
def publish(body: ListingCreate, user: User, db: Session, now: datetime) -> ListingDetail:
    """List an agent's current version (owner or editor); secret tool settings are removed."""
    return service.publish_listing(db, user=user, data=body, now=now)


@routes.get("", query=ListingsQuery, response=PageOf[ListingPublic], auth="optional")
def search(query: ListingsQuery, user: User | None, db: Session) -> Page[Listing]:
    """Search live listings: full text (`q`), category, tags, featured; sorted and paged."""
    return service.search_listings(db, user=user, query=query)


@routes.get("/<uuid:listing_id>", response=ListingDetail, auth="optional")
def get_listing(listing_id: uuid.UUID, user: User | None, db: Session) -> ListingDetail:
    """One listing with its snapshot; hidden ones only for their owner and moderators."""
    return service.get_listing(db, user=user, listing_id=listing_id)


@routes.patch(
    "/<uuid:listing_id>",
    body=ListingUpdate,
    response=ListingDetail,
    responses={409: "the listing is unpublished, or a republished workflow's steps are not"},
)
def update_listing(
    listing_id: uuid.UUID, body: ListingUpdate, user: User, db: Session, now: datetime
) -> ListingDetail:
    """Owner or editor: summary, category, tags, republish; moderators and admins: status."""
    return service.update_listing(db, user=user, listing_id=listing_id, data=body, now=now)


@routes.delete("/<uuid:listing_id>", status=204)
def unpublish(listing_id: uuid.UUID, user: User, db: Session, now: datetime) -> None:
    """Take the listing out of the marketplace (owner or admin); installed copies stay."""
    service.unpublish_listing(db, user=user, listing_id=listing_id, now=now)


@routes.get(
    "/<uuid:listing_id>/versions",
    query=PageQuery,
    response=PageOf[ListingVersionPublic],
    auth="optional",
)
def list_versions(
    listing_id: uuid.UUID, query: PageQuery, user: User | None, db: Session
) -> Page[ListingVersion]:
    """Every snapshot the listing has published, newest first."""
    return service.list_versions(
        db, user=user, listing_id=listing_id, cursor=query.cursor, limit=query.limit
    )


@routes.post(
    "/<uuid:listing_id>/ratings",
    body=RatingCreate,
    response=RatingPublic,
    status=201,
    responses={
        200: "the caller's earlier rating, replaced",
        409: "the listing is unpublished",
    },
)
def rate(
    listing_id: uuid.UUID, body: RatingCreate, user: User, db: Session, now: datetime
) -> Reply:
    """Rate an installed listing (one rating per user: a second one replaces the first)."""
    rating, created = service.rate_listing(db, user=user, listing_id=listing_id, data=body, now=now)
    return Reply(rating, status=201 if created else 200)


@routes.get(
    "/<uuid:listing_id>/ratings",
    query=PageQuery,
    response=PageOf[RatingPublic],
    auth="optional",
)
def list_ratings(
    listing_id: uuid.UUID, query: PageQuery, user: User | None, db: Session
) -> Page[RatingPublic]:
    """Ratings and reviews, most recently changed first."""
    return service.list_ratings(
        db, user=user, listing_id=listing_id, cursor=query.cursor, limit=query.limit
    )


@routes.post(
    "/<uuid:listing_id>/install",
    response=AgentPublic,
    status=201,
    responses={409: "the listing is unpublished, or its workflow steps cannot be installed"},
)
def install(listing_id: uuid.UUID, user: User, db: Session, settings: Settings) -> Agent:
    """Copy the listing into a new private agent of the caller."""
    return service.install_listing(db, user=user, listing_id=listing_id, settings=settings)


entry = function_entry(lambda: routes)
