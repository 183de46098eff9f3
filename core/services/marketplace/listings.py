"""Publishing an agent as a listing, changing and unpublishing it, and reading one."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.access.agents import Access, agent_for
from core.access.roles import require_moderator
from core.errors import Conflict, Forbidden
from core.evals.gates import check_release_gate
from core.models.marketplace import (
    Listing,
    ListingStatus,
    ListingVersion,
)
from core.models.users import Role, User
from core.pagination import Keyset, Page
from core.patch import patch
from core.schemas.marketplace import (
    ListingCreate,
    ListingDetail,
    ListingUpdate,
)
from core.services.marketplace.rules import check_workflow_shareable, listing_for, manages
from core.services.marketplace.snapshots import detail, take_snapshot

VERSIONS_ORDER = Keyset((ListingVersion.published_at, ListingVersion.id), descending=True)


def publish_listing(
    db: Session, *, user: User, data: ListingCreate, now: datetime
) -> ListingDetail:
    """List the agent's current version (owner or editor). An agent has one listing: a live one
    is a conflict (republish it with PATCH); an unpublished one comes back with this snapshot."""
    agent = agent_for(db, user, data.agent_id, Access.edit)
    listing = db.scalar(
        select(Listing).where(Listing.agent_id == agent.id).with_for_update(key_share=True)
    )
    if listing is not None and listing.unpublished_at is None:
        raise Conflict(
            f"this agent is already listed ({listing.id}); publish its current version with "
            f'PATCH /marketplace/{listing.id} and {{"republish": true}}',
            code="already_listed",
        )
    check_workflow_shareable(db, agent)
    # a gated agent publishes versions that passed; the listing shows how well
    passed = check_release_gate(db, agent, agent.version)
    if listing is None:
        listing = Listing(id=uuid.uuid4(), agent_id=agent.id, status=ListingStatus.active)
        db.add(listing)
    listing.category = data.category
    listing.tags = data.tags
    listing.summary = data.summary
    take_snapshot(db, listing, agent, user=user, now=now)
    listing.eval_pass_rate = passed
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError:  # a concurrent publish of the same agent won
        raise Conflict("this agent is already listed", code="already_listed") from None
    return detail(db, listing)


def update_listing(
    db: Session, *, user: User, listing_id: uuid.UUID, data: ListingUpdate, now: datetime
) -> ListingDetail:
    listing = listing_for(db, user, listing_id, for_update=True)
    if data.status is not None:
        require_moderator(user)
    owner_changes = data.republish or any(
        getattr(data, name) is not None for name in ("summary", "category", "tags")
    )
    if owner_changes and not manages(db, user, listing):
        raise Forbidden(
            "only the owner or an editor of the agent changes a listing", code="not_listing_owner"
        )
    patch(listing, data, "status", "summary", "category", "tags")
    if data.republish:
        agent = agent_for(db, user, listing.agent_id, Access.edit)
        check_workflow_shareable(db, agent)
        passed = check_release_gate(db, agent, agent.version)
        take_snapshot(db, listing, agent, user=user, now=now)
        listing.eval_pass_rate = passed
    db.flush()
    return detail(db, listing)


def unpublish_listing(db: Session, *, user: User, listing_id: uuid.UUID, now: datetime) -> None:
    """Remove the listing from the marketplace (owner or admin). The row stays, with its
    ratings, installs and versions, so that publishing the agent again brings it back."""
    listing = listing_for(db, user, listing_id, for_update=True)
    if listing.owner_id != user.id and user.role != Role.admin:
        raise Forbidden("only the owner or an admin unpublishes a listing", code="owner_only")
    if listing.unpublished_at is None:
        listing.unpublished_at = now
    db.flush()


def get_listing(db: Session, *, user: User | None, listing_id: uuid.UUID) -> ListingDetail:
    return detail(db, listing_for(db, user, listing_id), user.id if user else None)


def list_versions(
    db: Session, *, user: User | None, listing_id: uuid.UUID, cursor: str | None, limit: int
) -> Page[ListingVersion]:
    listing_for(db, user, listing_id)
    stmt = select(ListingVersion).where(ListingVersion.listing_id == listing_id)
    return VERSIONS_ORDER.fetch(db, stmt, cursor, limit)
