"""Cloud Function `eval_sets`: an agent's eval sets by id (made and listed under
/agents/{id}/eval-sets)."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from core.http import RouteGroup
from core.http.app import function_entry
from core.models.evals import EvalSet
from core.models.users import User
from core.schemas.evals import EvalSetPublic, EvalSetUpdate
from core.services import evals as service

routes = RouteGroup("eval_sets", path="/eval-sets", description="an agent's eval sets")


@routes.get("/<uuid:set_id>", response=EvalSetPublic, keys="never")
def get_eval_set(set_id: uuid.UUID, user: User, db: Session) -> EvalSet:
    """The set's cases and evaluators, as of its latest version (edit access to its agent)."""
    return service.get_set(db, user=user, set_id=set_id)


@routes.patch("/<uuid:set_id>", body=EvalSetUpdate, response=EvalSetPublic, keys="never")
def update_eval_set(set_id: uuid.UUID, body: EvalSetUpdate, user: User, db: Session) -> EvalSet:
    """Rename it, or change its cases or evaluators (a new version; evals keep the version they
    ran)."""
    return service.update_set(db, user=user, set_id=set_id, data=body)


@routes.delete(
    "/<uuid:set_id>",
    status=204,
    keys="never",
    responses={409: "an eval of this set is running"},
)
def delete_eval_set(set_id: uuid.UUID, user: User, db: Session) -> None:
    """The set, its versions and its evals' results go."""
    service.delete_set(db, user=user, set_id=set_id)


entry = function_entry(lambda: routes)
