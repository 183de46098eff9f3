"""Cloud Function `evals`: eval runs by id (started and listed under /agents/{id}/evals)."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from core.http import RouteGroup
from core.http.app import function_entry
from core.models.users import User
from core.runs.backends import Backends
from core.schemas.evals import EvalComparison, EvalPublic
from core.services import evals as service

routes = RouteGroup("evals", description="eval runs: reports and comparisons")


@routes.get("/<uuid:eval_id>", response=EvalPublic, keys="never")
def get_eval(eval_id: uuid.UUID, user: User, db: Session) -> EvalPublic:
    """The report: status, progress (done of total), each case's verdict, scores, reasons and
    execution (open it for its events and trace), pass rate, cost, tokens, latency p50/p95."""
    return service.get_eval(db, user=user, eval_id=eval_id)


@routes.get(
    "/<uuid:eval_id>/compare/<uuid:other_id>",
    response=EvalComparison,
    keys="never",
    responses={409: "the two evals ran different eval sets"},
)
def compare_evals(
    eval_id: uuid.UUID, other_id: uuid.UUID, user: User, db: Session
) -> EvalComparison:
    """Case by case from `eval_id` (the base) to `other_id`: what got better, what got worse."""
    return service.compare(db, user=user, eval_id=eval_id, other_id=other_id)


@routes.post(
    "/<uuid:eval_id>/cancel",
    response=EvalPublic,
    keys="never",
    responses={409: "the eval already ended"},
)
def cancel_eval(eval_id: uuid.UUID, user: User, db: Session, backends: Backends) -> EvalPublic:
    """Stop it: cases not started never start, running ones are cancelled."""
    return service.cancel_eval(db, user=user, eval_id=eval_id, backends=backends)


entry = function_entry(lambda: routes)
