"""Templates: the built-in ones (core/agents/builtin) and the agents admins offer as templates.
Every signed-in user may list them and start an agent of their own from one."""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.models.agents import Agent, AgentKind
from core.pagination import Keyset, Page
from core.schemas.common import PageQuery

TEMPLATES_ORDER = Keyset((Agent.created_at, Agent.id))
_IS_TEMPLATE = Agent.deleted_at.is_(None) & or_(
    Agent.agent_kind == AgentKind.template, Agent.is_template.is_(True)
)


def list_templates(db: Session, *, query: PageQuery) -> Page[Agent]:
    stmt = select(Agent).where(_IS_TEMPLATE)
    return TEMPLATES_ORDER.fetch(db, stmt, query.cursor, query.limit)


def template_for(db: Session, template_id: uuid.UUID) -> Agent:
    template = db.scalar(select(Agent).where(Agent.id == template_id, _IS_TEMPLATE))
    if template is None:
        raise NotFound("no such template", code="template_not_found")
    return template
