"""Credentials: each user's named secrets, sealed at rest (core.sealing). The API stores and
deletes them; runs open the ones their MCP servers name, for the caller of the run only."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.config import Settings
from core.errors import Conflict, NotFound
from core.models.credentials import Credential
from core.models.users import User
from core.pagination import Keyset, Page
from core.schemas.credentials import CredentialCreate, CredentialsQuery
from core.sealing import CannotOpen, credential_context, sealing_key

CREDENTIALS_ORDER = Keyset((Credential.created_at, Credential.id), descending=True)


class CredentialMissing(Exception):
    """The caller has no (usable) credential of these names."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


def create_credential(
    db: Session, *, user: User, data: CredentialCreate, settings: Settings
) -> Credential:
    key = sealing_key(settings)
    row: Credential | None = db.scalar(
        insert(Credential)
        .values(
            id=uuid.uuid4(),
            user_id=user.id,
            name=data.name,
            sealed_value=key.seal(data.value, credential_context(user.id, data.name)),
            key_id=key.key_id,
        )
        .on_conflict_do_nothing(index_elements=[Credential.user_id, Credential.name])
        .returning(Credential)
    )
    if row is None:
        raise Conflict(
            f"you already have a credential named {data.name!r}: delete it first to replace it",
            code="credential_exists",
        )
    return row


def list_credentials(db: Session, *, user: User, query: CredentialsQuery) -> Page[Credential]:
    stmt = select(Credential).where(Credential.user_id == user.id)
    rows = db.scalars(CREDENTIALS_ORDER.apply(stmt, query.cursor, query.limit)).all()
    return CREDENTIALS_ORDER.page(rows, query.limit, key=lambda c: (c.created_at, c.id))


def delete_credential(db: Session, *, user: User, credential_id: uuid.UUID) -> None:
    deleted = db.execute(
        delete(Credential)
        .where(Credential.id == credential_id, Credential.user_id == user.id)
        .returning(Credential.id)
    ).first()
    if deleted is None:
        raise NotFound("no such credential", code="credential_not_found")


def credential_names(db: Session, *, user_id: uuid.UUID, among: Iterable[str]) -> set[str]:
    """Which of these names the user has a credential of."""
    wanted = set(among)
    if not wanted:
        return set()
    stmt = select(Credential.name).where(
        Credential.user_id == user_id, Credential.name.in_(sorted(wanted))
    )
    return set(db.scalars(stmt))


def open_credentials(
    db: Session,
    *,
    user_id: uuid.UUID,
    names: Iterable[str],
    settings: Settings,
    now: datetime,
) -> dict[str, str]:
    """The values of the user's credentials of these names, marked used now. Raises
    CredentialMissing naming every one the user lacks (or whose value no longer opens)."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    rows = db.execute(
        update(Credential)
        .where(Credential.user_id == user_id, Credential.name.in_(wanted))
        .values(last_used_at=now)
        .returning(Credential.name, Credential.sealed_value)
    ).all()
    key = sealing_key(settings)
    values: dict[str, str] = {}
    for name, sealed in rows:
        try:
            values[name] = key.open(sealed, credential_context(user_id, name))
        except CannotOpen:
            continue  # sealed under another key: as good as missing
    missing = [name for name in wanted if name not in values]
    if missing:
        raise CredentialMissing(missing)
    return values
