"""Evals as the API serves them: an agent's eval sets (versioned: each save kept), eval runs
started, read and compared, and the release gate publishing and rollback answer to.

Who may: an agent's eval sets and evals belong to those who may edit it (owner, editors,
admins); anyone else gets 404 for them, as for another's private object. An eval runs as the
user who starts it: their quotas, their usage."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.access.agents import Access, agent_for
from core.errors import Conflict, DomainError, LimitReached, NotFound, field_error
from core.models.agents import Agent, AgentVersion
from core.models.evals import Eval, EvalCase, EvalSet, EvalSetVersion, EvalStatus
from core.models.executions import AgentExecution, ExecutionStatus
from core.models.users import User
from core.pagination import Keyset, Page
from core.runs.backends import Backends
from core.runs.queueing import enqueue_eval
from core.schemas.common import PageQuery
from core.schemas.evals import (
    CaseChange,
    EvalCaseResult,
    EvalComparison,
    EvalListItem,
    EvalPublic,
    EvalRequest,
    EvalSetCreate,
    EvalSetPublic,
    EvalSetUpdate,
    FromSession,
    Latency,
)
from core.services.delivery import Delivery

SETS_ORDER = Keyset((EvalSet.created_at, EvalSet.id), descending=True)
EVALS_ORDER = Keyset((Eval.created_at, Eval.id), descending=True)
COST_HISTORY = 50  # recent runs whose mean cost estimates a case's


# eval sets


def create_set(
    db: Session, *, user: User, agent_id: uuid.UUID, data: EvalSetCreate
) -> EvalSetPublic:
    agent = agent_for(db, user, agent_id, Access.edit)
    cases = [case.model_dump(mode="json") for case in data.cases]
    if data.from_session is not None:
        taken = {case["name"] for case in cases}
        for case in _cases_of_turns(db, user, agent, data.from_session):
            if case["name"] not in taken:
                cases.append(case)
    evaluators = [spec.model_dump(mode="json", by_alias=True) for spec in data.evaluators]
    row = EvalSet(
        id=uuid.uuid4(),
        agent_id=agent.id,
        owner_id=user.id,
        name=data.name,
        version=1,
        cases=cases,
        evaluators=evaluators,
    )
    db.add(row)
    db.add(EvalSetVersion(eval_set_id=row.id, version=1, cases=cases, evaluators=evaluators))
    db.flush()
    return EvalSetPublic.model_validate(row)


def _cases_of_turns(
    db: Session, user: User, agent: Agent, picked: FromSession
) -> list[dict[str, Any]]:
    """Each picked turn of the caller's session of this agent: its input, its answer as the
    expected output (a turn that did not succeed has none)."""
    from core.runs.session_rules import own_session

    session = own_session(db, user.id, picked.session_id)
    if session.agent_id != agent.id:
        raise Conflict(
            "that session is with another agent",
            code="session_agent_mismatch",
            details=[
                field_error(["body", "from_session", "session_id"], "another agent's", "mismatch")
            ],
        )
    turns = list(
        db.scalars(
            select(AgentExecution)
            .where(AgentExecution.session_id == session.id)
            .order_by(AgentExecution.created_at, AgentExecution.id)
        )
    )
    missing = [n for n in picked.turns if n > len(turns)]
    if missing:
        raise Conflict(
            f"the session has {len(turns)} turns",
            code="turn_not_found",
            details=[
                field_error(["body", "from_session", "turns"], f"no turn {n}", "missing")
                for n in missing
            ],
        )
    return [
        {
            "name": f"turn {n}",
            "input": turns[n - 1].input,
            "expected": turns[n - 1].output
            if turns[n - 1].status == ExecutionStatus.succeeded
            else None,
            "metadata": {"session_id": str(session.id), "turn": n},
        }
        for n in picked.turns
    ]


def _set_for(db: Session, user: User, set_id: uuid.UUID, *, for_update: bool = False) -> EvalSet:
    stmt = select(EvalSet).where(EvalSet.id == set_id)
    row = db.scalar(stmt.with_for_update() if for_update else stmt)
    if row is None:
        raise NotFound("no such eval set", code="eval_set_not_found")
    try:
        agent_for(db, user, row.agent_id, Access.edit)
    except DomainError:  # not theirs to know about (a reader's 403 too): the same 404
        raise NotFound("no such eval set", code="eval_set_not_found") from None
    return row


def list_sets(db: Session, *, user: User, agent_id: uuid.UUID, query: PageQuery) -> Page[EvalSet]:
    agent_for(db, user, agent_id, Access.edit)
    stmt = select(EvalSet).where(EvalSet.agent_id == agent_id)
    return SETS_ORDER.fetch(db, stmt, query.cursor, query.limit)


def get_set(db: Session, *, user: User, set_id: uuid.UUID) -> EvalSet:
    return _set_for(db, user, set_id)


def update_set(db: Session, *, user: User, set_id: uuid.UUID, data: EvalSetUpdate) -> EvalSet:
    """A new version when the cases or evaluators change (a rename is no new version)."""
    row = _set_for(db, user, set_id, for_update=True)
    if data.name is not None:
        row.name = data.name
    cases = (
        [case.model_dump(mode="json") for case in data.cases] if data.cases is not None else None
    )
    evaluators = (
        [spec.model_dump(mode="json", by_alias=True) for spec in data.evaluators]
        if data.evaluators is not None
        else None
    )
    changed = (cases is not None and cases != row.cases) or (
        evaluators is not None and evaluators != row.evaluators
    )
    if changed:
        row.version += 1
        row.cases = cases if cases is not None else row.cases
        row.evaluators = evaluators if evaluators is not None else row.evaluators
        db.add(
            EvalSetVersion(
                eval_set_id=row.id, version=row.version, cases=row.cases, evaluators=row.evaluators
            )
        )
    db.flush()
    return row


def delete_set(db: Session, *, user: User, set_id: uuid.UUID) -> None:
    row = _set_for(db, user, set_id, for_update=True)
    running = db.scalar(
        select(Eval.id).where(
            Eval.eval_set_id == row.id,
            Eval.status.in_([EvalStatus.queued, EvalStatus.running]),
        )
    )
    if running is not None:
        raise Conflict(f"eval {running} of this set is running", code="eval_running")
    db.delete(row)
    db.flush()


# eval runs


def start_eval(
    db: Session, *, user: User, agent_id: uuid.UUID, data: EvalRequest, backends: Backends
) -> EvalPublic:
    """Every case of the set's current version, `repeat` times, as queued cases the driver
    starts; refused up front (429) when its estimated cost is over what is left of the
    caller's day."""
    agent = agent_for(db, user, agent_id, Access.edit)
    eval_set = _set_for(db, user, data.eval_set_id)
    if eval_set.agent_id != agent.id:
        raise Conflict(
            "that eval set belongs to another agent",
            code="eval_set_mismatch",
            details=[field_error(["body", "eval_set_id"], "another agent's set", "mismatch")],
        )
    version = data.version or agent.version
    definition = db.scalar(
        select(AgentVersion.definition).where(
            AgentVersion.agent_id == agent.id, AgentVersion.version == version
        )
    )
    if definition is None:
        raise Conflict(
            f"the agent has no version {version}",
            code="version_not_found",
            details=[field_error(["body", "version"], "the agent has no such version", "missing")],
        )
    if definition.get("workflow") is not None:
        raise Conflict("evals run single agents, not workflows", code="workflow_not_evaluable")
    runs = len(eval_set.cases) * data.repeat
    limit = backends.settings.eval_max_runs
    if runs > limit:
        raise Conflict(
            f"this eval would make {runs} runs ({len(eval_set.cases)} cases, repeat "
            f"{data.repeat}); this deployment runs at most {limit} per eval (EVAL_MAX_RUNS)",
            code="eval_too_large",
            details=[field_error(["body", "repeat"], f"at most {limit} runs", "too_large")],
        )
    _check_budget(db, user, agent.id, runs)
    run = Eval(
        id=uuid.uuid4(),
        agent_id=agent.id,
        user_id=user.id,
        eval_set_id=eval_set.id,
        eval_set_version=eval_set.version,
        agent_version=version,
        repeat=data.repeat,
        concurrency=backends.settings.eval_concurrency,
        status=EvalStatus.queued,
        tokens=0,
    )
    db.add(run)
    db.add_all(
        EvalCase(eval_id=run.id, position=position, name=case["name"], repeat_index=repeat)
        for position, (repeat, case) in enumerate(
            (r, c) for r in range(data.repeat) for c in eval_set.cases
        )
    )
    db.commit()
    enqueue_eval(backends, run.id)
    return report(db, run)


def _check_budget(db: Session, user: User, agent_id: uuid.UUID, runs: int) -> None:
    left = db.scalar(select(func.daily_cost_left(user.id)))
    if left is None:
        return
    recent = (
        select(AgentExecution.cost)
        .where(
            AgentExecution.agent_id == agent_id,
            AgentExecution.status == ExecutionStatus.succeeded,
            AgentExecution.cost.is_not(None),
        )
        .order_by(AgentExecution.created_at.desc())
        .limit(COST_HISTORY)
        .subquery()
    )
    mean = db.scalar(select(func.avg(recent.c.cost)))
    if mean is None:  # nothing to go by: the runs themselves stop at the budget
        return
    estimate = Decimal(mean) * runs
    if estimate > Decimal(left):
        raise LimitReached(
            f"this eval would cost about {estimate:.4f} USD ({runs} runs at the agent's recent "
            f"mean of {Decimal(mean):.4f}); {Decimal(left):.4f} USD are left of today's budget",
            code="eval_over_budget",
            details=[
                {
                    "loc": ["body", "eval_set_id"],
                    "msg": "over today's cost budget",
                    "type": "over_budget",
                    "estimate_usd": str(estimate),
                    "left_usd": str(left),
                }
            ],
        )


def _eval_for(db: Session, user: User, eval_id: uuid.UUID) -> Eval:
    run = db.get(Eval, eval_id)
    if run is None:
        raise NotFound("no such eval", code="eval_not_found")
    if run.user_id != user.id:
        try:
            agent_for(db, user, run.agent_id, Access.edit)
        except DomainError:
            raise NotFound("no such eval", code="eval_not_found") from None
    return run


def get_eval(db: Session, *, user: User, eval_id: uuid.UUID) -> EvalPublic:
    return report(db, _eval_for(db, user, eval_id))


def report(db: Session, run: Eval) -> EvalPublic:
    cases = list(
        db.scalars(select(EvalCase).where(EvalCase.eval_id == run.id).order_by(EvalCase.position))
    )
    content = db.get(EvalSetVersion, (run.eval_set_id, run.eval_set_version))
    inputs = {case["name"]: case["input"] for case in (content.cases if content else [])}
    return EvalPublic(
        id=run.id,
        agent_id=run.agent_id,
        eval_set_id=run.eval_set_id,
        eval_set_version=run.eval_set_version,
        agent_version=run.agent_version,
        repeat=run.repeat,
        status=EvalStatus(run.status).value,
        pass_rate=run.pass_rate,
        done=sum(1 for case in cases if case.passed is not None),
        total=len(cases),
        cost_usd=run.cost,
        tokens=run.tokens,
        latency_ms=Latency(p50=run.latency_p50_ms, p95=run.latency_p95_ms),
        cases=[
            EvalCaseResult(
                name=case.name,
                input=inputs.get(case.name),
                repeat_index=case.repeat_index,
                execution_id=case.execution_id,
                passed=case.passed,
                scores=case.scores or {},
                reasons=case.reasons or {},
            )
            for case in cases
        ],
        error=run.error,
        created_at=run.created_at,
        finished_at=run.finished_at,
    )


def list_evals(
    db: Session,
    *,
    user: User,
    agent_id: uuid.UUID,
    eval_set_id: uuid.UUID | None,
    query: PageQuery,
) -> Page[Eval]:
    agent_for(db, user, agent_id, Access.edit)
    stmt = select(Eval).where(Eval.agent_id == agent_id)
    if eval_set_id is not None:
        stmt = stmt.where(Eval.eval_set_id == eval_set_id)
    return EVALS_ORDER.fetch(db, stmt, query.cursor, query.limit)


def compare(db: Session, *, user: User, eval_id: uuid.UUID, other_id: uuid.UUID) -> EvalComparison:
    """Case by case (a case passes when all its repeats passed): what got better from `eval_id`
    (the base) to `other_id`, and what got worse."""
    base, other = _eval_for(db, user, eval_id), _eval_for(db, user, other_id)
    if base.eval_set_id != other.eval_set_id:
        raise Conflict("the two evals ran different eval sets", code="eval_sets_differ")
    before, after = _verdicts(db, base.id), _verdicts(db, other.id)
    better, worse, same = [], [], 0
    for name in [*before, *[n for n in after if n not in before]]:
        was, now = before.get(name), after.get(name)
        change = CaseChange(name=name, before=was, after=now)
        if was is not True and now is True:
            better.append(change)
        elif was is True and now is not True:
            worse.append(change)
        else:
            same += 1
    rates = (base.pass_rate, other.pass_rate)
    return EvalComparison(
        base=EvalListItem.model_validate(base),
        other=EvalListItem.model_validate(other),
        better=better,
        worse=worse,
        same=same,
        pass_rate_change=None if rates[0] is None or rates[1] is None else rates[1] - rates[0],
    )


def _verdicts(db: Session, eval_id: uuid.UUID) -> dict[str, bool | None]:
    verdicts: dict[str, bool | None] = {}
    for name, passed in db.execute(
        select(EvalCase.name, EvalCase.passed)
        .where(EvalCase.eval_id == eval_id)
        .order_by(EvalCase.position)
    ):
        if passed is None or verdicts.get(name, True) is None:
            verdicts[name] = None
        else:
            verdicts[name] = verdicts.get(name, True) and passed
    return verdicts


def cancel_eval(db: Session, *, user: User, eval_id: uuid.UUID, backends: Backends) -> EvalPublic:
    """Ends the eval cancelled: cases not started never start; running ones are cancelled."""
    from core.services.executions import cancel_execution

    run = _eval_for(db, user, eval_id)
    if EvalStatus(run.status).is_terminal:
        raise Conflict(f"the eval already ended {run.status}", code="eval_ended")
    locked = db.execute(select(Eval).where(Eval.id == run.id).with_for_update()).scalar_one()
    locked.status = EvalStatus.cancelled
    locked.finished_at = backends.clock.now()
    running = list(
        db.scalars(
            select(AgentExecution.id).where(
                AgentExecution.eval_id == run.id,
                AgentExecution.status.in_(
                    [
                        ExecutionStatus.queued,
                        ExecutionStatus.running,
                        ExecutionStatus.waiting_approval,
                    ]
                ),
            )
        )
    )
    db.commit()
    for execution_id in running:
        try:
            cancel_execution(db, user=user, execution_id=execution_id, backends=backends)
        except DomainError:  # it ended meanwhile
            db.rollback()
    return report(db, locked)


# the worker's side


def deliver_eval(eval_id: uuid.UUID, backends: Backends) -> Delivery:
    """The eval's driver, as the tasks function answers the queue (any outcome acknowledges
    the task: a delivery that found another holding the eval leaves it to that one)."""
    from core.evals.driver import drive

    return Delivery(drive(eval_id, backends).status)


def stalled_evals(db: Session, now: datetime, idle_s: float) -> list[uuid.UUID]:
    """Evals nobody drove for `idle_s` (a lost task, a case the sweeper ended): the sweeper
    drives them again."""
    return list(
        db.scalars(
            select(Eval.id)
            .where(
                Eval.status.in_([EvalStatus.queued, EvalStatus.running]),
                Eval.updated_at <= now - timedelta(seconds=idle_s),
            )
            .limit(100)
        )
    )
