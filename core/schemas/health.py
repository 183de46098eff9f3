from __future__ import annotations

from core.schemas.common import ResponseModel


class Health(ResponseModel):
    status: str
    version: str


class Readiness(Health):
    schema_revision: str | None = None
