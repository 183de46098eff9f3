"""Cloud Function `health`: liveness and readiness."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.config import Settings
from core.http import RouteGroup
from core.http.app import function_entry
from core.schemas.health import Health, Readiness
from core.services import health as service

routes = RouteGroup("health", description="liveness and readiness")


@routes.get("", response=Health, auth="none")
def alive(settings: Settings) -> Health:
    """The process is up."""
    return Health.model_validate(service.liveness(settings))


@routes.get("/ready", response=Readiness, auth="none", responses={503: "not ready"})
def ready(db: Session, settings: Settings) -> Readiness:
    """The database answers and its schema is at the migrations' head."""
    return Readiness.model_validate(service.readiness(db, settings))


entry = function_entry(lambda: routes)
