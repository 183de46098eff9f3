"""A listing's snapshot of its agent: the definition without secrets, its tools."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session

from core.models.agents import Agent
from core.models.marketplace import (
    Listing,
    ListingInstall,
    ListingVersion,
)
from core.models.users import User
from core.schemas.marketplace import (
    ListingDetail,
    ListingPublic,
)
from core.secret_names import is_secret_key


def take_snapshot(
    db: Session, listing: Listing, agent: Agent, *, user: User, now: datetime
) -> None:
    """Make the agent's current version the listing's; a new snapshot joins the history."""
    snapshot = snapshot_of(agent)
    listing.unpublished_at = None
    current = current_version(db, listing.id) if listing.agent_version else None
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


def current_version(db: Session, listing_id: uuid.UUID) -> ListingVersion:
    version = db.scalar(
        select(ListingVersion)
        .where(ListingVersion.listing_id == listing_id)
        .order_by(ListingVersion.published_at.desc(), ListingVersion.id.desc())
        .limit(1)
    )
    assert version is not None, "a listing always has its first version"
    return version


def detail(db: Session, listing: Listing, viewer: uuid.UUID | None = None) -> ListingDetail:
    """The listing with its current snapshot, and whether `viewer` installed it."""
    db.flush()
    db.refresh(listing, ["publisher"])
    public = ListingPublic.model_validate(listing)
    snapshot = current_version(db, listing.id).snapshot
    installed = viewer is not None and db.get(ListingInstall, (listing.id, viewer)) is not None
    return ListingDetail(**public.model_dump(), snapshot=snapshot, installed=installed)


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


def without_secrets(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition with every secret-looking key removed from each tool's configuration, at
    any depth, and every plain secret-looking MCP or A2A header (credential references stay:
    they name the installer's own credential, never hold a value)."""
    tools = [
        {**tool, "config": _strip(tool.get("config") or {})} for tool in definition.get("tools", [])
    ]
    stripped = {**definition, "tools": tools}
    for field in ("mcp_servers", "a2a_agents"):  # MCP servers and remote A2A agents
        if definition.get(field):
            stripped[field] = [
                {
                    **remote,
                    "headers": {
                        name: value
                        for name, value in (remote.get("headers") or {}).items()
                        if not (isinstance(value, str) and is_secret_key(name))
                    },
                }
                for remote in definition[field]
            ]
    return stripped


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not is_secret_key(str(k))}
    if isinstance(value, list):
        return [_strip(item) for item in value]
    return value
