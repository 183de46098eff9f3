"""Role checks shared by every service. Object-level rules (who may see an agent) live with
their concept; this module answers only 'what may this role do'."""

from __future__ import annotations

from core.errors import Forbidden
from core.models.users import Role, User


def require_admin(user: User) -> None:
    if user.role != Role.admin:
        raise Forbidden("only admins may do this", code="admin_only")


def require_moderator(user: User) -> None:
    if user.role not in (Role.admin, Role.moderator):
        raise Forbidden("only moderators and admins may do this", code="moderator_only")
