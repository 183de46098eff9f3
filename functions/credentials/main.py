"""Cloud Function `credentials`: each user's named secrets (values go in, never come out), and
the hosts each may be sent to."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from core.config import Settings
from core.http import RouteGroup
from core.http.app import function_entry
from core.models.users import User
from core.pagination import Page
from core.schemas.common import PageOf
from core.schemas.credentials import (
    CredentialCreate,
    CredentialPublic,
    CredentialsQuery,
    CredentialUpdate,
)
from core.services import credentials as service
from core.services.credentials import CredentialView

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
) -> CredentialView:
    """Store a secret under a name an agent's MCP server headers refer to, with the hosts it
    may be sent to. The value is encrypted at rest and never returned."""
    return service.create_credential(db, user=user, data=body, settings=settings)


@routes.get("", query=CredentialsQuery, response=PageOf[CredentialPublic])
def list_credentials(
    query: CredentialsQuery, user: User, db: Session, settings: Settings
) -> Page[CredentialView]:
    """The caller's credentials (names, hosts, where runs last sent them), newest first."""
    return service.list_credentials(db, user=user, query=query, settings=settings)


@routes.get("/<uuid:credential_id>", response=CredentialPublic)
def get_credential(
    credential_id: uuid.UUID, user: User, db: Session, settings: Settings
) -> CredentialView:
    """One of the caller's credentials, with the agents and hosts runs last sent it to."""
    return service.get_credential(db, user=user, credential_id=credential_id, settings=settings)


@routes.patch("/<uuid:credential_id>", body=CredentialUpdate, response=CredentialPublic)
def update_credential(
    credential_id: uuid.UUID, body: CredentialUpdate, user: User, db: Session, settings: Settings
) -> CredentialView:
    """Replace the value (sealed anew) and/or the hosts it may be sent to."""
    return service.update_credential(
        db, user=user, credential_id=credential_id, data=body, settings=settings
    )


@routes.delete("/<uuid:credential_id>", status=204)
def delete_credential(credential_id: uuid.UUID, user: User, db: Session) -> None:
    """Delete one of the caller's credentials."""
    service.delete_credential(db, user=user, credential_id=credential_id)


entry = function_entry(lambda: routes)
