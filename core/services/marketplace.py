"""The marketplace: publish an agent as a listing (a snapshot without secrets), search it,
moderate it, rate it and install copies of it.

Who may do what with a listing is answered here once:
- see it: everyone while it is live (not hidden, not unpublished); otherwise only its owner,
  moderators and admins (anyone else gets 404);
- change summary, category and tags, republish: the owner, admins, and users with edit access to
  the agent (as for publishing it);
- set its status (active, featured, hidden): moderators and admins;
- unpublish: the owner and admins;
- rate: users who installed it, never its owner; install: anyone who can see it, while live.
"""

from __future__ import annotations

import re
import typing
import uuid
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
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
    text,
    update,
)
from sqlalchemy.dialects.postgresql import array, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.agents.definition import parse_definition
from core.config import Settings
from core.db import custom_plan
from core.errors import Conflict, Forbidden, NotFound, Unauthorized, field_error
from core.models.agents import Agent, AgentScope
from core.models.marketplace import (
    Listing,
    ListingInstall,
    ListingSearch,
    ListingStatus,
    ListingVersion,
    Rating,
)
from core.models.users import Role, User
from core.pagination import Keyset, Page, escape_like
from core.schemas.agents import AgentCreate
from core.schemas.marketplace import (
    ListingCreate,
    ListingDetail,
    ListingPublic,
    ListingsQuery,
    ListingUpdate,
    RatingCreate,
    RatingPublic,
)
from core.services.access import require_moderator
from core.services.agent_access import Access, access_of, agent_for
from core.services.agents import create_agent

MODERATORS = (Role.moderator, Role.admin)
NAME_MAX = 100


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
RATINGS_ORDER = Keyset((Rating.updated_at, Rating.id), descending=True)
VERSIONS_ORDER = Keyset((ListingVersion.published_at, ListingVersion.id), descending=True)


# -- publish -------------------------------------------------------------------------------------


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
    _check_workflow_shareable(db, agent)
    if listing is None:
        listing = Listing(id=uuid.uuid4(), agent_id=agent.id, status=ListingStatus.active)
        db.add(listing)
    listing.category = data.category
    listing.tags = data.tags
    listing.summary = data.summary
    _take_snapshot(db, listing, agent, user=user, now=now)
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError:  # a concurrent publish of the same agent won
        raise Conflict("this agent is already listed", code="already_listed") from None
    return _detail(db, listing)


def update_listing(
    db: Session, *, user: User, listing_id: uuid.UUID, data: ListingUpdate, now: datetime
) -> ListingDetail:
    listing = _listing_for(db, user, listing_id, for_update=True)
    if data.status is not None:
        require_moderator(user)
    owner_changes = data.republish or any(
        getattr(data, name) is not None for name in ("summary", "category", "tags")
    )
    if owner_changes and not _manages(db, user, listing):
        raise Forbidden(
            "only the owner or an editor of the agent changes a listing", code="not_listing_owner"
        )
    if data.status is not None:
        listing.status = data.status
    if data.summary is not None:
        listing.summary = data.summary
    if data.category is not None:
        listing.category = data.category
    if data.tags is not None:
        listing.tags = data.tags
    if data.republish:
        agent = agent_for(db, user, listing.agent_id, Access.edit)
        _check_workflow_shareable(db, agent)
        _take_snapshot(db, listing, agent, user=user, now=now)
    db.flush()
    return _detail(db, listing)


def unpublish_listing(db: Session, *, user: User, listing_id: uuid.UUID, now: datetime) -> None:
    """Remove the listing from the marketplace (owner or admin). The row stays, with its
    ratings, installs and versions, so that publishing the agent again brings it back."""
    listing = _listing_for(db, user, listing_id, for_update=True)
    if listing.owner_id != user.id and user.role != Role.admin:
        raise Forbidden("only the owner or an admin unpublishes a listing", code="owner_only")
    if listing.unpublished_at is None:
        listing.unpublished_at = now
    db.flush()


# -- read ----------------------------------------------------------------------------------------


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


def get_listing(db: Session, *, user: User | None, listing_id: uuid.UUID) -> ListingDetail:
    return _detail(db, _listing_for(db, user, listing_id))


def list_versions(
    db: Session, *, user: User | None, listing_id: uuid.UUID, cursor: str | None, limit: int
) -> Page[ListingVersion]:
    _listing_for(db, user, listing_id)
    stmt = select(ListingVersion).where(ListingVersion.listing_id == listing_id)
    rows = db.scalars(VERSIONS_ORDER.apply(stmt, cursor, limit)).all()
    return VERSIONS_ORDER.page(rows, limit, key=lambda v: (v.published_at, v.id))


# -- ratings -------------------------------------------------------------------------------------


def rate_listing(
    db: Session, *, user: User, listing_id: uuid.UUID, data: RatingCreate, now: datetime
) -> tuple[RatingPublic, bool]:
    """Create or replace the caller's rating; returns it and whether it is new. The listing row
    stays locked until commit, so concurrent raters of one listing take turns and the totals,
    recomputed from the ratings themselves, are exact."""
    listing = _listing_for(db, user, listing_id, for_update=True)
    _require_live(listing)
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
    _listing_for(db, user, listing_id)
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


# -- install -------------------------------------------------------------------------------------


def install_listing(db: Session, *, user: User, listing_id: uuid.UUID, settings: Settings) -> Agent:
    """Copy the listing's snapshot into a new private agent of the caller. A workflow's steps
    must each be runnable by the caller (kept as they are) or live in the marketplace
    (installed along, and the step points at the copy)."""
    listing = _listing_for(db, user, listing_id)
    _require_live(listing)
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
    snapshot = _current_version(db, listing.id).snapshot
    definition = dict(snapshot["definition"])
    workflow = definition.get("workflow")
    if workflow:
        steps = []
        for index, step in enumerate(workflow["steps"]):
            step_id = uuid.UUID(str(step))
            if _runnable_by(db, user, step_id):
                steps.append(str(step_id))
                continue
            step_listing = _live_listing_of(db, step_id)
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


# -- rules ---------------------------------------------------------------------------------------


def live_clause() -> ColumnElement[bool]:
    """Listings anyone may find: published and not hidden (the partial indexes' predicate)."""
    return Listing.unpublished_at.is_(None) & (Listing.status != ListingStatus.hidden)


def _is_live(listing: Listing) -> bool:
    return listing.unpublished_at is None and listing.status != ListingStatus.hidden


def _listing_for(
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


def _require_live(listing: Listing) -> None:
    if listing.unpublished_at is not None:
        raise Conflict("this listing is unpublished", code="listing_unpublished")


def _manages(db: Session, user: User, listing: Listing) -> bool:
    if listing.owner_id == user.id or user.role == Role.admin:
        return True
    agent = db.get(Agent, listing.agent_id)
    return (
        agent is not None and agent.deleted_at is None and access_of(db, user, agent) >= Access.edit
    )


def _runnable_by(db: Session, user: User, agent_id: uuid.UUID) -> bool:
    agent = db.get(Agent, agent_id)
    return (
        agent is not None
        and agent.deleted_at is None
        and access_of(db, user, agent) >= Access.execute
    )


def _live_listing_of(db: Session, agent_id: uuid.UUID) -> Listing | None:
    return db.scalar(select(Listing).where(Listing.agent_id == agent_id, live_clause()))


def _check_workflow_shareable(db: Session, agent: Agent) -> None:
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
        if not public and _live_listing_of(db, step_id) is None:
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


# -- snapshots -----------------------------------------------------------------------------------


def _take_snapshot(
    db: Session, listing: Listing, agent: Agent, *, user: User, now: datetime
) -> None:
    """Make the agent's current version the listing's; a new snapshot joins the history."""
    snapshot = snapshot_of(agent)
    listing.unpublished_at = None
    current = _current_version(db, listing.id) if listing.agent_version else None
    if current is not None and current.snapshot == snapshot:
        return  # republishing an unchanged agent
    tools = enabled_tools(agent.definition)
    listing.owner_id = agent.owner_id
    listing.agent_version = agent.version
    listing.name = agent.name
    listing.display_name = agent.display_name
    listing.description = agent.description
    listing.tools = tools
    listing.published_at = now
    db.add(
        ListingVersion(
            listing_id=listing.id,
            agent_version=agent.version,
            tools=tools,
            snapshot=snapshot,
            published_by=user.id,
            published_at=now,
        )
    )


def _current_version(db: Session, listing_id: uuid.UUID) -> ListingVersion:
    version = db.scalar(
        select(ListingVersion)
        .where(ListingVersion.listing_id == listing_id)
        .order_by(ListingVersion.published_at.desc(), ListingVersion.id.desc())
        .limit(1)
    )
    assert version is not None, "a listing always has its first version"
    return version


def _detail(db: Session, listing: Listing) -> ListingDetail:
    db.flush()
    public = ListingPublic.model_validate(listing)
    snapshot = _current_version(db, listing.id).snapshot
    return ListingDetail(**public.model_dump(), snapshot=snapshot)


def snapshot_of(agent: Agent) -> dict[str, Any]:
    return {
        "name": agent.name,
        "display_name": agent.display_name,
        "description": agent.description,
        "version": agent.version,
        "agent_type": agent.agent_type.value,
        "definition": without_secrets(agent.definition),
    }


def enabled_tools(definition: dict[str, Any]) -> list[str]:
    return [tool["name"] for tool in definition.get("tools", []) if tool.get("enabled", True)]


# names of settings that hold credentials; matched on the key in snake case (apiKey → api_key).
# Erring towards removal is safe: a removed value falls back to the tool's default.
_SECRET_KEY = re.compile(
    r"api_?key|secret|passw(or)?d|passphrase|credential|private_?key|access_?key|signing_?key|"
    r"token(?!s|iz)|authori[sz]ation|authentication|bearer|cookie|session_?id|dsn|"
    r"connection_?string|(^|_)(auth|pass|pwd|key)($|_)"
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def is_secret_key(key: str) -> bool:
    normalized = re.sub(r"[^a-z0-9]+", "_", _CAMEL.sub("_", key).lower())
    return _SECRET_KEY.search(normalized) is not None


def without_secrets(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition with every secret-looking key removed from each tool's configuration, at
    any depth."""
    tools = [
        {**tool, "config": _strip(tool.get("config") or {})} for tool in definition.get("tools", [])
    ]
    return {**definition, "tools": tools}


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not is_secret_key(str(k))}
    if isinstance(value, list):
        return [_strip(item) for item in value]
    return value


# -- small helpers -------------------------------------------------------------------------------


def _average(total: int, count: int) -> Decimal:
    if count == 0:
        return Decimal("0")
    return (Decimal(total) / count).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


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
