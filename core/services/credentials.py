"""Credentials: each user's named secrets, sealed at rest (core.sealing), each sent only to the
hosts its owner names. The API stores, changes and deletes them and says where runs last sent
them; runs open the ones their MCP servers name, for the caller of the run only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.config import Settings
from core.errors import Conflict, NotFound
from core.models.agents import Agent
from core.models.credentials import Credential, CredentialSend
from core.models.users import User
from core.pagination import Keyset, Page
from core.patch import patch
from core.schemas.credentials import CredentialCreate, CredentialsQuery, CredentialUpdate
from core.sealing import KeyRing, credential_context, key_ring, sealing_key

CREDENTIALS_ORDER = Keyset((Credential.created_at, Credential.id), descending=True)
# where a credential was sent, as listed with it: the newest of its (agent, host) pairs
SENT_TO_LISTED = 10
NO_HOSTS = (
    "this credential names no hosts it may be sent to, so no run sends it anywhere: set them "
    "with PATCH /credentials/{id} {allowed_hosts}"
)
UNREADABLE = (
    "this credential's value can no longer be read (it was sealed with a key the service no "
    "longer has): store it again with PATCH /credentials/{id} {value}"
)


@dataclass
class CredentialView:
    """A credential as the API shows it (never its value)."""

    id: uuid.UUID
    name: str
    allowed_hosts: list[str]
    created_at: datetime
    last_used_at: datetime | None
    sent_to: list[dict[str, Any]] = field(default_factory=list)
    readable: bool = True

    @property
    def notice(self) -> str | None:
        if not self.readable:
            return UNREADABLE.replace("{id}", str(self.id))
        return None if self.allowed_hosts else NO_HOSTS.replace("{id}", str(self.id))


def create_credential(
    db: Session, *, user: User, data: CredentialCreate, settings: Settings
) -> CredentialView:
    """A new credential; a name the user has is a 409 (change it with PATCH)."""
    key = sealing_key(settings)
    row: Credential | None = db.scalar(
        insert(Credential)
        .values(
            id=uuid.uuid4(),
            user_id=user.id,
            name=data.name,
            sealed_value=key.seal(data.value, credential_context(user.id, data.name)),
            key_id=key.key_id,
            allowed_hosts=data.allowed_hosts,
        )
        .on_conflict_do_nothing(index_elements=[Credential.user_id, Credential.name])
        .returning(Credential)
    )
    if row is None:
        raise Conflict(
            f"you already have a credential named {data.name!r}: change it with "
            "PATCH /credentials/{id}, or delete it first",
            code="credential_exists",
        )
    return _view(row, key_ring(settings))


def update_credential(
    db: Session,
    *,
    user: User,
    credential_id: uuid.UUID,
    data: CredentialUpdate,
    settings: Settings,
) -> CredentialView:
    """A new value (sealed anew) and/or the hosts it may be sent to."""
    row = db.scalar(
        select(Credential)
        .where(Credential.id == credential_id, Credential.user_id == user.id)
        .with_for_update()
    )
    if row is None:
        raise NotFound("no such credential", code="credential_not_found")
    if data.value is not None:
        key = sealing_key(settings)
        row.sealed_value = key.seal(data.value, credential_context(user.id, row.name))
        row.key_id = key.key_id
    patch(row, data, "allowed_hosts")
    db.flush()
    return _with_sends(db, [_view(row, key_ring(settings))])[0]


def get_credential(
    db: Session, *, user: User, credential_id: uuid.UUID, settings: Settings
) -> CredentialView:
    row = db.scalar(
        select(Credential).where(Credential.id == credential_id, Credential.user_id == user.id)
    )
    if row is None:
        raise NotFound("no such credential", code="credential_not_found")
    return _with_sends(db, [_view(row, key_ring(settings))])[0]


def list_credentials(
    db: Session, *, user: User, query: CredentialsQuery, settings: Settings
) -> Page[CredentialView]:
    stmt = select(Credential).where(Credential.user_id == user.id)
    page = CREDENTIALS_ORDER.fetch(db, stmt, query.cursor, query.limit)
    ring = key_ring(settings)
    return Page(_with_sends(db, [_view(row, ring) for row in page.items]), page.next_cursor)


def delete_credential(db: Session, *, user: User, credential_id: uuid.UUID) -> None:
    deleted = db.execute(
        delete(Credential)
        .where(Credential.id == credential_id, Credential.user_id == user.id)
        .returning(Credential.id)
    ).first()
    if deleted is None:
        raise NotFound("no such credential", code="credential_not_found")


def _view(row: Credential, ring: KeyRing) -> CredentialView:
    return CredentialView(
        id=row.id,
        name=row.name,
        allowed_hosts=list(row.allowed_hosts),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        readable=ring.knows(row.key_id),
    )


def _with_sends(db: Session, views: list[CredentialView]) -> list[CredentialView]:
    """Each credential with where it was last sent (one query for the page)."""
    if not views:
        return views
    by_id = {view.id: view for view in views}
    rows = db.execute(
        select(
            CredentialSend.credential_id,
            CredentialSend.agent_id,
            Agent.name,
            CredentialSend.host,
            CredentialSend.execution_id,
            CredentialSend.last_sent_at,
        )
        .join(Agent, Agent.id == CredentialSend.agent_id)
        .where(CredentialSend.credential_id.in_(list(by_id)))
        .order_by(CredentialSend.last_sent_at.desc())
    ).all()
    for credential_id, agent_id, agent_name, host, execution_id, sent_at in rows:
        listed = by_id[credential_id].sent_to
        if len(listed) < SENT_TO_LISTED:
            listed.append(
                {
                    "agent_id": agent_id,
                    "agent_name": agent_name,
                    "host": host,
                    "execution_id": execution_id,
                    "last_sent_at": sent_at,
                }
            )
    return views
