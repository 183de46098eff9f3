"""Cloud Function `credentials`: each user's named secrets (values go in, never come out)."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from core.config import Settings
from core.http import RouteGroup
from core.http.app import function_entry
from core.models.credentials import Credential
from core.models.users import User
from core.pagination import Page
from core.schemas.common import PageOf
from core.schemas.credentials import CredentialCreate, CredentialPublic, CredentialsQuery
from core.services import credentials as service

routes = RouteGroup("credentials", description="named secrets MCP servers use")


@routes.post(
    "",
    body=CredentialCreate,
    response=CredentialPublic,
    status=201,
    responses={409: "a credential of that name exists"},
)
def create_credential(
    body: CredentialCreate, user: User, db: Session, settings: Settings
) -> Credential:
    """Store a secret under a name an agent's MCP server headers refer to. The value is
    encrypted at rest and never returned."""
    return service.create_credential(db, user=user, data=body, settings=settings)


@routes.get("", query=CredentialsQuery, response=PageOf[CredentialPublic])
def list_credentials(query: CredentialsQuery, user: User, db: Session) -> Page[Credential]:
    """The caller's credentials (names and dates only), newest first."""
    return service.list_credentials(db, user=user, query=query)


@routes.delete("/<uuid:credential_id>", status=204)
def delete_credential(credential_id: uuid.UUID, user: User, db: Session) -> None:
    """Delete one of the caller's credentials."""
    service.delete_credential(db, user=user, credential_id=credential_id)


entry = function_entry(lambda: routes)
