from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, created_at, uuid_pk


class Credential(Base):
    """A user's named secret (an API token an MCP server wants): the value is stored encrypted
    (core.sealing) and never read back out through the API; it is sent only to the hosts its
    owner names (`allowed_hosts`: none, and it is sent nowhere)."""

    __tablename__ = "credentials"
    __table_args__ = (
        Index("uq_credentials_user_id_name", "user_id", "name", unique=True),
        Index("ix_credentials_user_id_created_at", "user_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    # nonce (12 bytes) + AES-256-GCM ciphertext and tag; the associated data binds it to its
    # owner and name, so a sealed value copied to another row does not open
    sealed_value: Mapped[bytes] = mapped_column(LargeBinary)
    # which key sealed it (a short fingerprint), so a key rotation can tell old rows apart
    key_id: Mapped[str] = mapped_column(String(16))
    # host names ("api.github.com"), "*.example.com" (any subdomain) or IP literals
    allowed_hosts: Mapped[list[str]] = mapped_column(
        ARRAY(String(255)), default=list, server_default=text("'{}'::varchar[]")
    )
    created_at: Mapped[datetime] = created_at()
    last_used_at: Mapped[datetime | None]


class CredentialSend(Base):
    """Where a credential was last sent: per (credential, agent, host), the latest time a run
    connected there with it, and that run."""

    __tablename__ = "credential_sends"

    credential_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("credentials.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    execution_id: Mapped[uuid.UUID | None]
    last_sent_at: Mapped[datetime]
