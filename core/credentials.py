"""Opening a user's credentials for a run: each value unsealed (core.sealing) for its owner
only, with the hosts its owner lets it go to, and every send recorded. The rule that a value
goes only to those hosts is `OpenedCredential.allows`, asked before anything is sent (MCP
servers: core.mcp.servers). The API that stores them is core.services.credentials."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.config import Settings
from core.egress import host_allowed
from core.models.credentials import Credential, CredentialSend
from core.sealing import CannotOpen, KeyRing, credential_context, key_ring


@dataclass(frozen=True)
class OpenedCredential:
    """A credential's value as a run holds it, with the hosts its owner lets it go to."""

    id: uuid.UUID
    name: str
    value: str
    allowed_hosts: tuple[str, ...]

    def allows(self, host: str) -> bool:
        return host_allowed(host, self.allowed_hosts)

    def refusal(self, host: str) -> str:
        if not self.allowed_hosts:
            return (
                f"credential {self.name!r} names no hosts it may be sent to, so it is sent "
                "nowhere (its owner sets them with PATCH /credentials/{id})"
            )
        return (
            f"credential {self.name!r} may not be sent to {host} "
            f"(its owner allows: {', '.join(self.allowed_hosts)})"
        )


class CredentialMissing(Exception):
    """The caller has no credential of these names."""

    code = "credential_missing"

    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


class CredentialUnreadable(CredentialMissing):
    """The caller has credentials of these names that no key of the ring opens any more (the
    service's CREDENTIALS_KEY changed without the old one in CREDENTIALS_OLD_KEYS)."""

    code = "credential_unreadable"


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
    """The user's credentials of these names, opened, with the hosts each may be sent to. A
    value an old key opened is sealed again under the current one. Raises CredentialMissing
    naming every one the user lacks, or CredentialUnreadable naming those no key opens. Nothing
    is marked used: `record_sends` does that when a value is sent."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    rows = db.execute(
        select(
            Credential.id,
            Credential.name,
            Credential.sealed_value,
            Credential.key_id,
            Credential.allowed_hosts,
        ).where(Credential.user_id == user_id, Credential.name.in_(wanted))
    ).all()
    ring = key_ring(settings)
    opened: dict[str, OpenedCredential] = {}
    unreadable: list[str] = []
    for credential_id, name, sealed, key_id, hosts in rows:
        context = credential_context(user_id, name)
        try:
            value, stale = ring.open(sealed, context, key_id)
        except CannotOpen:
            unreadable.append(name)
            continue
        if stale:
            _reseal(db, credential_id, ring, value, context)
        opened[name] = OpenedCredential(credential_id, name, value, tuple(hosts))
    missing = [name for name in wanted if name not in opened and name not in unreadable]
    if missing:
        raise CredentialMissing(missing)
    if unreadable:
        raise CredentialUnreadable(unreadable)
    return opened


def _reseal(db: Session, credential_id: uuid.UUID, ring: KeyRing, value: str, context: str) -> None:
    db.execute(
        update(Credential)
        .where(Credential.id == credential_id)
        .values(sealed_value=ring.current.seal(value, context), key_id=ring.current.key_id)
    )


def reseal_all(db: Session, *, settings: Settings) -> dict[str, int]:
    """Every credential sealed under an old key of the ring, sealed again under the current
    one (`python -m core.cli reseal-credentials`). Counts: resealed, current, unreadable."""
    ring = key_ring(settings)
    counts = {"resealed": 0, "current": 0, "unreadable": 0}
    rows = db.execute(
        select(
            Credential.id,
            Credential.user_id,
            Credential.name,
            Credential.sealed_value,
            Credential.key_id,
        ).execution_options(yield_per=500)
    )
    for credential_id, user_id, name, sealed, key_id in rows:
        context = credential_context(user_id, name)
        try:
            value, stale = ring.open(sealed, context, key_id)
        except CannotOpen:
            counts["unreadable"] += 1
            continue
        if stale:
            _reseal(db, credential_id, ring, value, context)
            counts["resealed"] += 1
        else:
            counts["current"] += 1
    return counts


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
