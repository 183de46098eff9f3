"""Cloud Function `users`: the caller's own account, and user administration."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from core.http import RouteGroup
from core.http.app import function_entry
from core.models.users import User
from core.pagination import Page
from core.schemas.common import PageOf
from core.schemas.users import AdminUpdate, SelfUpdate, UserPublic, UsersQuery
from core.services import users as service

routes = RouteGroup("users", description="accounts")


@routes.get("/me", response=UserPublic)
def me(user: User) -> User:
    """The caller's account."""
    return user


@routes.patch(
    "/me",
    body=SelfUpdate,
    response=UserPublic,
    responses={409: "the email is taken"},
)
def update_me(body: SelfUpdate, user: User, db: Session) -> User:
    """Change the caller's email, profile or password (the latter needs current_password)."""
    return service.update_self(db, user=user, data=body)


@routes.get("", query=UsersQuery, response=PageOf[UserPublic])
def list_users(query: UsersQuery, user: User, db: Session) -> Page[User]:
    """Every account (admins only)."""
    return service.admin_list(db, actor=user, query=query)


@routes.get("/<uuid:user_id>", response=UserPublic)
def get_user(user_id: uuid.UUID, user: User, db: Session) -> User:
    """One account (admins only)."""
    return service.admin_get(db, actor=user, user_id=user_id)


@routes.patch(
    "/<uuid:user_id>",
    body=AdminUpdate,
    response=UserPublic,
    responses={409: "an admin may not demote or deactivate themselves"},
)
def update_user(user_id: uuid.UUID, body: AdminUpdate, user: User, db: Session) -> User:
    """Change an account's role or activate/deactivate it (admins only)."""
    return service.admin_update(db, actor=user, user_id=user_id, data=body)


entry = function_entry(lambda: routes)
