"""Who may see, change, moderate and run what in the marketplace (see the package doc)."""

from __future__ import annotations

import uuid

from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.access.agents import Access, access_of
from core.errors import Conflict, NotFound, field_error
from core.models.agents import Agent, AgentScope
from core.models.marketplace import (
    Listing,
    ListingStatus,
)
from core.models.users import Role, User

MODERATORS = (Role.moderator, Role.admin)


def live_clause() -> ColumnElement[bool]:
    """Listings anyone may find: published and not hidden (the partial indexes' predicate)."""
    return Listing.unpublished_at.is_(None) & (Listing.status != ListingStatus.hidden)


def _is_live(listing: Listing) -> bool:
    return listing.unpublished_at is None and listing.status != ListingStatus.hidden


def listing_for(
    db: Session, user: User | None, listing_id: uuid.UUID, *, for_update: bool = False
) -> Listing:
    """The listing if the caller may see it; 404 otherwise (a hidden listing does not exist for
    those who may not see it)."""
    stmt = select(Listing).where(Listing.id == listing_id)
    if for_update:
        # NO KEY UPDATE: serialises writers of this listing without blocking the rating and
        # install rows that reference it
        stmt = stmt.with_for_update(key_share=True).execution_options(populate_existing=True)
    listing = db.scalar(stmt)
    if listing is None or not (_is_live(listing) or _sees_everything(user, listing)):
        raise NotFound("no such listing", code="listing_not_found")
    return listing


def _sees_everything(user: User | None, listing: Listing) -> bool:
    return user is not None and (user.id == listing.owner_id or user.role in MODERATORS)


def require_live(listing: Listing) -> None:
    if listing.unpublished_at is not None:
        raise Conflict("this listing is unpublished", code="listing_unpublished")


def manages(db: Session, user: User, listing: Listing) -> bool:
    if listing.owner_id == user.id or user.role == Role.admin:
        return True
    agent = db.get(Agent, listing.agent_id)
    return (
        agent is not None and agent.deleted_at is None and access_of(db, user, agent) >= Access.edit
    )


def runnable_by(db: Session, user: User, agent_id: uuid.UUID) -> bool:
    agent = db.get(Agent, agent_id)
    return (
        agent is not None
        and agent.deleted_at is None
        and access_of(db, user, agent) >= Access.execute
    )


def live_listing_of(db: Session, agent_id: uuid.UUID) -> Listing | None:
    return db.scalar(select(Listing).where(Listing.agent_id == agent_id, live_clause()))


def check_workflow_shareable(db: Session, agent: Agent) -> None:
    """Every step of a published workflow must be usable by any installer: a public or system
    agent, or an agent that is itself live in the marketplace."""
    workflow = agent.definition.get("workflow")
    if not workflow:
        return
    problems = []
    for index, step in enumerate(workflow["steps"]):
        step_id = uuid.UUID(str(step))
        step_agent = db.get(Agent, step_id)
        public = (
            step_agent is not None
            and step_agent.deleted_at is None
            and step_agent.scope in (AgentScope.public, AgentScope.system)
        )
        if not public and live_listing_of(db, step_id) is None:
            problems.append(
                field_error(
                    ["definition", "workflow", "steps", index],
                    f"agent {step_id} is neither public nor listed in the marketplace",
                    "workflow_step_not_shareable",
                )
            )
    if problems:
        raise Conflict(
            "every step of a published workflow must be a public or system agent or be listed "
            "itself: publish the steps first",
            code="workflow_step_not_shareable",
            details=problems,
        )
