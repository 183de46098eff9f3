"""Credentials: each user's named secrets, sealed at rest (core.sealing), each sent only to the
hosts its owner names. The API stores, changes and deletes them and says where runs last sent
them; runs open the ones their MCP servers name, for the caller of the run only."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.config import Settings
from core.errors import Conflict, NotFound
from core.mcp.servers import OpenedCredential
from core.models.agents import Agent
from core.models.credentials import Credential, CredentialSend
from core.models.users import User
from core.pagination import Keyset, Page
from core.schemas.credentials import CredentialCreate, CredentialsQuery, CredentialUpdate
from core.sealing import CannotOpen, credential_context, sealing_key

CREDENTIALS_ORDER = Keyset((Credential.created_at, Credential.id), descending=True)
# where a credential was sent, as listed with it: the newest of its (agent, host) pairs
SENT_TO_LISTED = 10
NO_HOSTS = (
    "this credential names no hosts it may be sent to, so no run sends it anywhere: set them "
    "with PATCH /credentials/{id} {allowed_hosts}"
)


class CredentialMissing(Exception):
    """The caller has no (usable) credential of these names."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


@dataclass
class CredentialView:
    """A credential as the API shows it (never its value)."""

    id: uuid.UUID
    name: str
    allowed_hosts: list[str]
    created_at: datetime
    last_used_at: datetime | None
    sent_to: list[dict[str, Any]] = field(default_factory=list)

    @property
    def notice(self) -> str | None:
        return None if self.allowed_hosts else NO_HOSTS.replace("{id}", str(self.id))


def create_credential(
    db: Session, *, user: User, data: CredentialCreate, settings: Settings
) -> CredentialView:
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
    return _view(row)


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
    if data.allowed_hosts is not None:
        row.allowed_hosts = data.allowed_hosts
    db.flush()
    return _with_sends(db, [_view(row)])[0]


def get_credential(db: Session, *, user: User, credential_id: uuid.UUID) -> CredentialView:
    row = db.scalar(
        select(Credential).where(Credential.id == credential_id, Credential.user_id == user.id)
    )
    if row is None:
        raise NotFound("no such credential", code="credential_not_found")
    return _with_sends(db, [_view(row)])[0]


def list_credentials(db: Session, *, user: User, query: CredentialsQuery) -> Page[CredentialView]:
    stmt = select(Credential).where(Credential.user_id == user.id)
    rows = db.scalars(CREDENTIALS_ORDER.apply(stmt, query.cursor, query.limit)).all()
    page = CREDENTIALS_ORDER.page(rows, query.limit, key=lambda c: (c.created_at, c.id))
    return Page(_with_sends(db, [_view(row) for row in page.items]), page.next_cursor)


def delete_credential(db: Session, *, user: User, credential_id: uuid.UUID) -> None:
    deleted = db.execute(
        delete(Credential)
        .where(Credential.id == credential_id, Credential.user_id == user.id)
        .returning(Credential.id)
    ).first()
    if deleted is None:
        raise NotFound("no such credential", code="credential_not_found")


def _view(row: Credential) -> CredentialView:
    return CredentialView(
        id=row.id,
        name=row.name,
        allowed_hosts=list(row.allowed_hosts),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
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


def credential_hosts(
    db: Session, *, user_id: uuid.UUID, among: Iterable[str]
) -> dict[str, tuple[str, ...]]:
    """Which of these names the user has a credential of, with the hosts each may go to."""
    wanted = set(among)
    if not wanted:
        return {}
    stmt = select(Credential.name, Credential.allowed_hosts).where(
        Credential.user_id == user_id, Credential.name.in_(sorted(wanted))
    )
    return {name: tuple(hosts) for name, hosts in db.execute(stmt)}


def open_credentials(
    db: Session, *, user_id: uuid.UUID, names: Iterable[str], settings: Settings
) -> dict[str, OpenedCredential]:
    """The user's credentials of these names, opened, with the hosts each may be sent to.
    Raises CredentialMissing naming every one the user lacks (or whose value no longer
    opens). Nothing is marked used: `record_sends` does that when a value is sent."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    rows = db.execute(
        select(
            Credential.id, Credential.name, Credential.sealed_value, Credential.allowed_hosts
        ).where(Credential.user_id == user_id, Credential.name.in_(wanted))
    ).all()
    key = sealing_key(settings)
    opened: dict[str, OpenedCredential] = {}
    for credential_id, name, sealed, hosts in rows:
        try:
            value = key.open(sealed, credential_context(user_id, name))
        except CannotOpen:
            continue  # sealed under another key: as good as missing
        opened[name] = OpenedCredential(credential_id, name, value, tuple(hosts))
    missing = [name for name in wanted if name not in opened]
    if missing:
        raise CredentialMissing(missing)
    return opened


def record_sends(
    db: Session,
    *,
    credential_ids: Iterable[uuid.UUID],
    agent_id: uuid.UUID | None,
    host: str,
    execution_id: uuid.UUID | None,
    now: datetime,
) -> None:
    """These credentials were just sent to `host` by a run of `agent_id` (None: their owner
    inspecting a server): their last use, and where they went."""
    ids = sorted(set(credential_ids))
    if not ids:
        return
    db.execute(update(Credential).where(Credential.id.in_(ids)).values(last_used_at=now))
    if agent_id is None:
        return
    stmt = insert(CredentialSend).values(
        [
            {
                "credential_id": credential_id,
                "agent_id": agent_id,
                "host": host,
                "execution_id": execution_id,
                "last_sent_at": now,
            }
            for credential_id in ids
        ]
    )
    db.execute(
        stmt.on_conflict_do_update(
            index_elements=[
                CredentialSend.credential_id,
                CredentialSend.agent_id,
                CredentialSend.host,
            ],
            set_={"execution_id": stmt.excluded.execution_id, "last_sent_at": now},
        )
    )
