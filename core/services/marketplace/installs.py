"""Installing a listing: a new agent of the caller's, copied from its snapshot."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.config import Settings
from core.definition import parse_definition
from core.errors import Conflict, field_error
from core.models.agents import Agent
from core.models.marketplace import (
    Listing,
    ListingInstall,
)
from core.models.users import User
from core.pagination import escape_like
from core.schemas.agents import AgentCreate
from core.services.agents import create_agent
from core.services.marketplace.rules import listing_for, live_listing_of, require_live, runnable_by
from core.services.marketplace.snapshots import current_version

NAME_MAX = 100


def install_listing(db: Session, *, user: User, listing_id: uuid.UUID, settings: Settings) -> Agent:
    """Copy the listing's snapshot into a new private agent of the caller. A workflow's steps
    must each be runnable by the caller (kept as they are) or live in the marketplace
    (installed along, and the step points at the copy)."""
    listing = listing_for(db, user, listing_id)
    require_live(listing)
    return _install(db, user, listing, settings, installed={}, installing=set())


def _install(
    db: Session,
    user: User,
    listing: Listing,
    settings: Settings,
    *,
    installed: dict[uuid.UUID, Agent],
    installing: set[uuid.UUID],
) -> Agent:
    if listing.id in installed:  # the same step twice in one workflow: one copy
        return installed[listing.id]
    if listing.id in installing:
        raise Conflict("the workflow's steps form a cycle", code="workflow_cycle")
    installing.add(listing.id)
    snapshot = current_version(db, listing.id).snapshot
    definition = dict(snapshot["definition"])
    workflow = definition.get("workflow")
    if workflow:
        steps = []
        for index, step in enumerate(workflow["steps"]):
            step_id = uuid.UUID(str(step))
            if runnable_by(db, user, step_id):
                steps.append(str(step_id))
                continue
            step_listing = live_listing_of(db, step_id)
            if step_listing is None:
                raise Conflict(
                    f"step {index} of this workflow ({step_id}) is neither an agent you may run "
                    "nor listed in the marketplace",
                    code="workflow_step_unavailable",
                    details=[
                        field_error(
                            ["snapshot", "definition", "workflow", "steps", index],
                            "not runnable by you and not installable",
                            "workflow_step_unavailable",
                        )
                    ],
                )
            copy = _install(
                db, user, step_listing, settings, installed=installed, installing=installing
            )
            steps.append(str(copy.id))
        definition["workflow"] = {**workflow, "steps": steps}
    agent = _create_copy(db, user, listing, snapshot, definition, settings)
    _record_install(db, user, listing, agent)
    installing.discard(listing.id)
    installed[listing.id] = agent
    return agent


def _create_copy(
    db: Session,
    user: User,
    listing: Listing,
    snapshot: dict[str, Any],
    definition: dict[str, Any],
    settings: Settings,
) -> Agent:
    parsed = parse_definition(definition, loc=("snapshot", "definition"))
    metadata = {
        "installed_from": {"listing_id": str(listing.id), "agent_version": listing.agent_version}
    }
    # one name chooser per user at a time (until commit): concurrent installs of the same
    # listing then see each other's copies and pick -2, -3, ... instead of colliding
    db.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"agent-names:{user.id}"}
    )
    data = AgentCreate(
        name=_free_name(db, user.id, snapshot["name"]),
        display_name=snapshot["display_name"],
        description=snapshot.get("description", ""),
        definition=parsed,
        metadata=metadata,
    )
    return create_agent(db, user=user, data=data, settings=settings)


def _record_install(db: Session, user: User, listing: Listing, agent: Agent) -> None:
    """One row per user and listing; install_count counts users, so it grows only when the row
    is new (ON CONFLICT makes concurrent first installs of one user count once)."""
    first = db.execute(
        insert(ListingInstall)
        .values(
            listing_id=listing.id,
            user_id=user.id,
            agent_id=agent.id,
            agent_version=listing.agent_version,
        )
        .on_conflict_do_nothing(index_elements=["listing_id", "user_id"])
        .returning(ListingInstall.listing_id)
    ).first()
    if first is not None:
        db.execute(
            update(Listing)
            .where(Listing.id == listing.id)
            .values(install_count=Listing.install_count + 1)
        )
    else:
        db.execute(
            update(ListingInstall)
            .where(ListingInstall.listing_id == listing.id, ListingInstall.user_id == user.id)
            .values(
                agent_id=agent.id,
                agent_version=listing.agent_version,
                install_total=ListingInstall.install_total + 1,
                last_installed_at=func.now(),
            )
        )


def _free_name(db: Session, owner_id: uuid.UUID, base: str) -> str:
    """`base`, or `base-2`, `base-3`, ... : the first name the owner has no live agent with."""
    base = base[:NAME_MAX]
    pattern = escape_like(base[: NAME_MAX - 4].lower()) + "%"
    taken = set(
        db.scalars(
            select(func.lower(Agent.name)).where(
                Agent.owner_id == owner_id,
                Agent.deleted_at.is_(None),
                func.lower(Agent.name).like(pattern, escape="\\"),
            )
        )
    )
    if base.lower() not in taken:
        return base
    number = 2
    while True:
        suffix = f"-{number}"
        candidate = base[: NAME_MAX - len(suffix)] + suffix
        if candidate.lower() not in taken:
            return candidate
        number += 1
